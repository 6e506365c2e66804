"""Acknowledging VIP apology tasks, so that their reminders are not sent.

A ``vip_apology_task`` is decided together with its reminder (``detail.renotify``,
held by the dispatcher until ``detail.not_before``, the SLA). Both carry the task's
action id as ``detail.task_id``. A support lead who handled the task acknowledges it
(``cxstream tasks ack ACTION_ID``); the dispatcher skips a reminder whose task is
acknowledged (:meth:`TaskAcknowledgements.is_acknowledged`).

:class:`RedisTaskAcknowledgements` keeps one key per task,
``<prefix>:{act:<action_id>}:ack`` (:func:`acknowledged_key`; the hash tag is the one of
the dispatcher's delivery record of the same action), holding ``{"by", "at"}`` for
``ttl`` (30 days by default). :class:`MemoryTaskAcknowledgements` keeps them in a dict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from cxstream.config import Settings

__all__ = [
    "DEFAULT_ACK_TTL",
    "Acknowledgement",
    "MemoryTaskAcknowledgements",
    "RedisTaskAcknowledgements",
    "TaskAcknowledgements",
    "acknowledge_task",
    "acknowledged_key",
]

#: How long an acknowledgement is kept by default.
DEFAULT_ACK_TTL = timedelta(days=30)


def acknowledged_key(action_id: str, key_prefix: str = "cx") -> str:
    """The Redis key recording that the task ``action_id`` was acknowledged.

    >>> acknowledged_key("vip-callback:3f2a")
    'cx:{act:vip-callback:3f2a}:ack'
    """
    return f"{key_prefix}:{{act:{action_id}}}:ack"


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """Who acknowledged a task, and when."""

    action_id: str
    by: str
    at: datetime

    def to_json(self) -> str:
        return json.dumps({"by": self.by, "at": self.at.isoformat()}, separators=(",", ":"))

    @classmethod
    def from_json(cls, action_id: str, raw: str) -> Acknowledgement:
        data = json.loads(raw)
        return cls(action_id, str(data["by"]), datetime.fromisoformat(data["at"]))


class TaskAcknowledgements(Protocol):
    """Where task acknowledgements are kept."""

    async def acknowledge(self, action_id: str, *, by: str, at: datetime) -> Acknowledgement:
        """Record the acknowledgement; an earlier one is kept and returned."""
        ...

    async def acknowledgement(self, action_id: str) -> Acknowledgement | None: ...

    async def is_acknowledged(self, action_id: str) -> bool: ...


async def acknowledge_task(
    acks: TaskAcknowledgements, action_id: str, *, by: str, at: datetime
) -> tuple[Acknowledgement, bool]:
    """Acknowledge the task ``action_id``: the acknowledgement in force, and whether it is
    the one just made (``False``: it had been acknowledged before)."""
    if at.tzinfo is None:
        raise ValueError("the acknowledgement time must be timezone-aware")
    action_id = action_id.strip()
    if not action_id:
        raise ValueError("give the task's action id")
    result = await acks.acknowledge(action_id, by=by, at=at)
    return result, result.by == by and result.at == at


class MemoryTaskAcknowledgements:
    """Acknowledgements in a dict (tests, replay)."""

    def __init__(self) -> None:
        self.acks: dict[str, Acknowledgement] = {}

    async def acknowledge(self, action_id: str, *, by: str, at: datetime) -> Acknowledgement:
        return self.acks.setdefault(action_id, Acknowledgement(action_id, by, at))

    async def acknowledgement(self, action_id: str) -> Acknowledgement | None:
        return self.acks.get(action_id)

    async def is_acknowledged(self, action_id: str) -> bool:
        return action_id in self.acks


class RedisTaskAcknowledgements:
    """Acknowledgements in Redis (single node or Cluster), one key per task."""

    def __init__(
        self,
        client: aioredis.Redis | RedisCluster,
        *,
        key_prefix: str = "cx",
        ttl: timedelta = DEFAULT_ACK_TTL,
    ) -> None:
        self.client = client
        self.key_prefix = key_prefix
        self.ttl_s = max(1, int(ttl.total_seconds()))

    @classmethod
    def from_settings(
        cls, settings: Settings, client: aioredis.Redis | RedisCluster | None = None
    ) -> RedisTaskAcknowledgements:
        from cxstream.redis_client import connect_redis

        return cls(
            client if client is not None else connect_redis(settings),
            key_prefix=settings.key_prefix,
        )

    async def close(self) -> None:
        await self.client.aclose()

    def key(self, action_id: str) -> str:
        return acknowledged_key(action_id, self.key_prefix)

    async def acknowledge(self, action_id: str, *, by: str, at: datetime) -> Acknowledgement:
        made = Acknowledgement(action_id, by, at)
        if await self.client.set(self.key(action_id), made.to_json(), nx=True, ex=self.ttl_s):
            return made
        earlier = await self.acknowledgement(action_id)
        return earlier if earlier is not None else made

    async def acknowledgement(self, action_id: str) -> Acknowledgement | None:
        raw = await self.client.get(self.key(action_id))
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return Acknowledgement.from_json(action_id, text)

    async def is_acknowledged(self, action_id: str) -> bool:
        return bool(await self.client.exists(self.key(action_id)))
