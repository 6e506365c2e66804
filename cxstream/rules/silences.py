"""Silences: mute matching alerts for a while, as in Alertmanager.

A :class:`Silence` mutes every alert whose labels satisfy all its matchers from
``starts_at`` until ``ends_at``. It is *pending* before it starts, *active* while it
runs and *expired* after it ends; expiring a silence early sets its end to now.
Expired silences stay listable (``cxstream silence list --expired``) for
``retention`` after their end, then are deleted.

Stores implement :class:`SilenceStore`: :class:`RedisSilenceStore` shares silences
between workers and the CLI through Redis (a hash of silences and a sorted set of their
ends, under one Redis Cluster hash tag: ``<prefix>:{silences}:...``);
:class:`MemorySilenceStore` keeps them in the process (tests, replay).

>>> from datetime import UTC, datetime, timedelta
>>> now = datetime(2026, 3, 2, 9, tzinfo=UTC)
>>> s = new_silence(["country=DE", "kpi=nps"], timedelta(hours=2), "ana", "app release", now)
>>> s.state(now), s.mutes({"country": "DE", "kpi": "nps"}), s.mutes({"country": "FR"})
('active', True, False)
>>> s.state(now + timedelta(hours=3))
'expired'
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Protocol, Self

import redis.asyncio as aioredis
from pydantic import AwareDatetime, Field, StringConstraints, model_validator
from redis.asyncio.cluster import RedisCluster

from cxstream.config import Settings
from cxstream.rules.base import RulesModel
from cxstream.rules.matchers import Matcher, MatcherText, matches_all

__all__ = [
    "DEFAULT_RETENTION",
    "MemorySilenceStore",
    "RedisSilenceStore",
    "Silence",
    "SilenceNotFoundError",
    "SilenceState",
    "SilenceStore",
    "new_silence",
]

SilenceState = Literal["pending", "active", "expired"]
#: How long expired silences stay listable.
DEFAULT_RETENTION = timedelta(days=7)


class Silence(RulesModel):
    """Mute alerts matching every matcher from ``starts_at`` to ``ends_at``."""

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    matchers: tuple[MatcherText, ...] = Field(min_length=1)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_by: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    comment: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    created_at: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.ends_at < self.starts_at:
            raise ValueError("a silence cannot end before it starts")
        return self

    def state(self, at: datetime) -> SilenceState:
        if at < self.starts_at:
            return "pending"
        return "active" if at < self.ends_at else "expired"

    def active_at(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def mutes(self, labels: Mapping[str, str]) -> bool:
        """Whether alerts with ``labels`` are selected (whatever the time)."""
        return matches_all(self.matchers, labels)

    def expired_at(self, at: datetime) -> Silence:
        """This silence ended at ``at`` (unchanged if it has ended already)."""
        if self.ends_at <= at:
            return self
        return self.model_copy(update={"ends_at": at, "starts_at": min(self.starts_at, at)})


def new_silence(
    matchers: Sequence[str | Matcher],
    duration: timedelta,
    created_by: str,
    comment: str,
    now: datetime,
    *,
    starts_at: datetime | None = None,
) -> Silence:
    """A new silence with a fresh id, from ``starts_at`` (default ``now``) for ``duration``."""
    if duration <= timedelta(0):
        raise ValueError("a silence must last longer than 0s")
    start = now if starts_at is None else starts_at
    return Silence.model_validate(
        {
            "id": uuid.uuid4().hex,
            "matchers": list(matchers),
            "starts_at": start,
            "ends_at": start + duration,
            "created_by": created_by,
            "comment": comment,
            "created_at": now,
        }
    )


class SilenceNotFoundError(KeyError):
    """No silence with this id."""


class SilenceStore(Protocol):
    """Where silences are kept."""

    async def add(self, silence: Silence) -> None:
        """Store ``silence`` (replacing one with the same id)."""

    async def get(self, silence_id: str) -> Silence | None:
        """The silence with this id, if it is kept."""

    async def list_silences(self, at: datetime, *, include_expired: bool = False) -> list[Silence]:
        """Pending and active silences at ``at`` (and expired ones, if asked), by start."""

    async def active(self, at: datetime) -> list[Silence]:
        """The silences active at ``at``."""

    async def expire(self, silence_id: str, at: datetime) -> Silence:
        """End the silence at ``at``; :class:`SilenceNotFoundError` if there is none."""


def _listed(
    silences: Sequence[Silence], at: datetime, include_expired: bool, retention: timedelta
) -> list[Silence]:
    kept = [
        s
        for s in silences
        if s.ends_at > at - retention and (include_expired or s.state(at) != "expired")
    ]
    return sorted(kept, key=lambda s: (s.starts_at, s.id))


class MemorySilenceStore:
    """Silences in a dict (tests, replay)."""

    def __init__(self, retention: timedelta = DEFAULT_RETENTION) -> None:
        self.retention = retention
        self._silences: dict[str, Silence] = {}

    async def add(self, silence: Silence) -> None:
        self._silences[silence.id] = silence

    async def get(self, silence_id: str) -> Silence | None:
        return self._silences.get(silence_id)

    async def list_silences(self, at: datetime, *, include_expired: bool = False) -> list[Silence]:
        return _listed(list(self._silences.values()), at, include_expired, self.retention)

    async def active(self, at: datetime) -> list[Silence]:
        return [s for s in await self.list_silences(at) if s.active_at(at)]

    async def expire(self, silence_id: str, at: datetime) -> Silence:
        silence = self._silences.get(silence_id)
        if silence is None:
            raise SilenceNotFoundError(silence_id)
        expired = silence.expired_at(at)
        self._silences[silence_id] = expired
        return expired


# KEYS: 1 silences hash, 2 ends sorted set. ARGV: 1 id, 2 JSON, 3 ends (epoch s),
# 4 purge before (epoch s): silences that ended before it are deleted.
_PUT = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
for _, id in ipairs(old) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return #old
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSilenceStore:
    """Silences in Redis (single node or Cluster), shared by workers and the CLI."""

    def __init__(
        self,
        client: aioredis.Redis | RedisCluster,
        key_prefix: str = "cx",
        retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        self.client = client
        self.retention = retention
        self.data_key = f"{key_prefix}:{{silences}}:data"
        self.ends_key = f"{key_prefix}:{{silences}}:ends"

    @classmethod
    def from_settings(cls, settings: Settings, retention: timedelta = DEFAULT_RETENTION) -> Self:
        from cxstream.redis_client import connect_redis

        return cls(connect_redis(settings), settings.key_prefix, retention)

    async def close(self) -> None:
        await self.client.aclose()

    async def add(self, silence: Silence) -> None:
        await self._put(silence, silence.created_at)

    async def _put(self, silence: Silence, now: datetime) -> None:
        purge_before = now - self.retention
        await self.client.eval(
            _PUT,
            2,
            self.data_key,
            self.ends_key,
            silence.id,
            silence.model_dump_json(),
            silence.ends_at.timestamp(),
            purge_before.timestamp(),
        )

    async def get(self, silence_id: str) -> Silence | None:
        raw = await self.client.hget(self.data_key, silence_id)
        return None if raw is None else Silence.model_validate_json(_text(raw))

    async def _all(self) -> list[Silence]:
        raw: dict[Any, Any] = await self.client.hgetall(self.data_key)
        return [Silence.model_validate(json.loads(_text(v))) for v in raw.values()]

    async def list_silences(self, at: datetime, *, include_expired: bool = False) -> list[Silence]:
        return _listed(await self._all(), at, include_expired, self.retention)

    async def active(self, at: datetime) -> list[Silence]:
        return [s for s in await self.list_silences(at) if s.active_at(at)]

    async def expire(self, silence_id: str, at: datetime) -> Silence:
        silence = await self.get(silence_id)
        if silence is None:
            raise SilenceNotFoundError(silence_id)
        expired = silence.expired_at(at)
        if expired is not silence:
            await self._put(expired, at)
        return expired
