"""What has been sent: one record per action id, so that an action is delivered once.

A record is either a *lease* (``sending``: a dispatcher is delivering the action right
now; it expires after ``lease_s`` so that a crashed dispatcher does not block the
action forever) or a *result* (``sent`` or ``skipped``, with the
:class:`~cxstream.notify.base.Delivery` as JSON, kept ``ttl_s``). The result of a
firing alert group holds the Slack channel and message ``ts``, which is how the
resolved action of the same group finds the message to update in place.

:class:`RedisIdempotencyStore` keeps one string key per action,
``<prefix>:{act:<action_id>}:delivery`` (hash-tagged, so it works on Redis Cluster; every
operation touches that one key, atomically in a small script).
:class:`MemoryIdempotencyStore` keeps them in a dict (tests, replay).

Errors reaching the store raise :class:`IdempotencyStoreError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import redis.asyncio as aioredis
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from cxstream.clock import Clock, SystemClock
from cxstream.config import Settings
from cxstream.notify.base import Delivery

__all__ = [
    "Claim",
    "IdempotencyStore",
    "IdempotencyStoreError",
    "MemoryIdempotencyStore",
    "RedisIdempotencyStore",
    "SentRecord",
    "delivery_key",
    "record_of",
]


class IdempotencyStoreError(Exception):
    """The store could not be read or written (the caller should retry later)."""


class SentRecord(BaseModel):
    """The outcome of a delivered action, as stored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    state: Literal["sent", "skipped"]
    delivery: Delivery
    at: AwareDatetime


@dataclass(frozen=True, slots=True)
class Claim:
    """Result of :meth:`IdempotencyStore.claim`.

    ``claimed``: the caller holds the lease and must deliver; ``done``: the action was
    delivered before (``record`` says how); ``busy``: another dispatcher holds the lease.
    """

    status: Literal["claimed", "done", "busy"]
    record: SentRecord | None = None


class IdempotencyStore(Protocol):
    """Records of delivered actions, with leases for actions being delivered."""

    async def get(self, action_id: str) -> SentRecord | None:
        """The result of ``action_id`` if it was delivered (``None`` while leased)."""
        ...

    async def claim(self, action_id: str, owner: str, lease_s: float) -> Claim:
        """Take the lease on ``action_id`` unless it is delivered or leased already."""
        ...

    async def extend(self, action_id: str, owner: str, lease_s: float) -> bool:
        """Renew ``owner``'s lease; ``False`` if it is no longer ``owner``'s."""
        ...

    async def record(self, action_id: str, record: SentRecord, ttl_s: float) -> None:
        """Store the result (replacing the lease) for ``ttl_s`` seconds."""
        ...

    async def release(self, action_id: str, owner: str) -> None:
        """Drop ``owner``'s lease (after a failure), so the action can be tried again."""
        ...


def _lease_value(owner: str) -> str:
    return json.dumps({"state": "sending", "owner": owner}, separators=(",", ":"))


def _parse(raw: str | bytes | None) -> SentRecord | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("state") not in ("sent", "skipped"):
        return None
    try:
        return SentRecord.model_validate(data)
    except ValidationError:
        return None


def _claim_of(raw: str | bytes | None) -> Claim:
    if raw is None:
        return Claim("claimed")
    record = _parse(raw)
    return Claim("done", record) if record is not None else Claim("busy")


class MemoryIdempotencyStore:
    """In-process records; time (for leases and TTLs) from ``clock.monotonic()``."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._items: dict[str, tuple[str, float]] = {}

    def _live(self, action_id: str) -> str | None:
        item = self._items.get(action_id)
        if item is None:
            return None
        value, expires = item
        if self._clock.monotonic() >= expires:
            del self._items[action_id]
            return None
        return value

    async def get(self, action_id: str) -> SentRecord | None:
        return _parse(self._live(action_id))

    async def claim(self, action_id: str, owner: str, lease_s: float) -> Claim:
        value = self._live(action_id)
        if value is None:
            self._items[action_id] = (_lease_value(owner), self._clock.monotonic() + lease_s)
        return _claim_of(value)

    async def extend(self, action_id: str, owner: str, lease_s: float) -> bool:
        if self._live(action_id) != _lease_value(owner):
            return False
        self._items[action_id] = (_lease_value(owner), self._clock.monotonic() + lease_s)
        return True

    async def record(self, action_id: str, record: SentRecord, ttl_s: float) -> None:
        self._items[action_id] = (record.model_dump_json(), self._clock.monotonic() + ttl_s)

    async def release(self, action_id: str, owner: str) -> None:
        if self._live(action_id) == _lease_value(owner):
            del self._items[action_id]


# KEYS[1]: the action's key; ARGV[1]: lease value; ARGV[2]: lease in ms.
# Returns the existing value, or false after taking the lease.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
# KEYS[1]: the action's key; ARGV[1]: lease value; ARGV[2]: lease in ms (0: delete).
_IF_LEASED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) else
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


def delivery_key(prefix: str, action_id: str) -> str:
    """The Redis key of an action's record.

    >>> delivery_key("cx", "apology:a84c2d68b41f7f57cb9b")
    'cx:{act:apology:a84c2d68b41f7f57cb9b}:delivery'
    """
    return f"{prefix}:{{act:{action_id}}}:delivery"


class RedisIdempotencyStore:
    """Records in Redis (single or Cluster), one key per action id."""

    def __init__(self, client: aioredis.Redis | RedisCluster, *, key_prefix: str = "cx") -> None:
        self._client = client
        self._prefix = key_prefix

    @classmethod
    def from_settings(
        cls, client: aioredis.Redis | RedisCluster, settings: Settings
    ) -> RedisIdempotencyStore:
        """A store under the deployment's ``key_prefix``."""
        return cls(client, key_prefix=settings.key_prefix)

    def key(self, action_id: str) -> str:
        return delivery_key(self._prefix, action_id)

    async def get(self, action_id: str) -> SentRecord | None:
        try:
            raw = await self._client.get(self.key(action_id))
        except (RedisError, OSError) as exc:
            raise IdempotencyStoreError(f"get {action_id}: {exc}") from exc
        return _parse(raw)

    async def claim(self, action_id: str, owner: str, lease_s: float) -> Claim:
        try:
            raw = await self._client.eval(
                _CLAIM, 1, self.key(action_id), _lease_value(owner), max(1, int(lease_s * 1000))
            )
        except (RedisError, OSError) as exc:
            raise IdempotencyStoreError(f"claim {action_id}: {exc}") from exc
        return _claim_of(raw if raw else None)

    async def extend(self, action_id: str, owner: str, lease_s: float) -> bool:
        return await self._if_leased(action_id, owner, max(1, int(lease_s * 1000)))

    async def release(self, action_id: str, owner: str) -> None:
        await self._if_leased(action_id, owner, 0)

    async def _if_leased(self, action_id: str, owner: str, lease_ms: int) -> bool:
        try:
            done = await self._client.eval(
                _IF_LEASED, 1, self.key(action_id), _lease_value(owner), lease_ms
            )
        except (RedisError, OSError) as exc:
            raise IdempotencyStoreError(f"lease {action_id}: {exc}") from exc
        return bool(done)

    async def record(self, action_id: str, record: SentRecord, ttl_s: float) -> None:
        try:
            await self._client.set(
                self.key(action_id), record.model_dump_json(), ex=max(1, int(ttl_s))
            )
        except (RedisError, OSError) as exc:
            raise IdempotencyStoreError(f"record {action_id}: {exc}") from exc


def record_of(delivery: Delivery, at: datetime) -> SentRecord:
    """The stored form of ``delivery`` made at ``at``."""
    return SentRecord(state=delivery.status, delivery=delivery, at=at)
