"""Checkpoints of the detection stage: model state per segment, kept with its owner.

Detection is partitioned by segment: each segment series has an *owner partition*
(see :func:`owner_of`), and the worker that is assigned that partition of the
feedback topic runs the detectors of all series it owns. Their state is written to
one Redis hash per owner partition, ``{prefix}:{d<p>}:detect``, a field per series plus
the window trackers, so a worker that takes the partition over (after a restart or a
rebalance) resumes from the last checkpoint instead of relearning from zero.

>>> owner_of({"country": "DE", "channel": "app"}, 8) == owner_of({"country": "DE"}, 8)
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from cxstream.partitioning import partition_for

__all__ = [
    "CheckpointStore",
    "MemoryCheckpointStore",
    "RedisCheckpointStore",
    "owner_of",
]


def owner_of(dims: Mapping[str, str], partitions: int) -> int:
    """The owner partition of a series: that of its country, so that a country and
    all its sub-segments are watched together (drill-down needs them side by side)."""
    return partition_for(dims.get("country", ""), partitions)


class CheckpointStore(Protocol):
    """Stores the detection state of each owner partition as named JSON fields."""

    async def load(self, owner: int) -> dict[str, str]: ...

    async def save(self, owner: int, fields: Mapping[str, str]) -> None:
        """Replace these fields (others are kept), atomically."""
        ...


class MemoryCheckpointStore:
    """Checkpoints kept in this process (replay, tests)."""

    def __init__(self) -> None:
        self.data: dict[int, dict[str, str]] = {}

    async def load(self, owner: int) -> dict[str, str]:
        return dict(self.data.get(owner, {}))

    async def save(self, owner: int, fields: Mapping[str, str]) -> None:
        self.data.setdefault(owner, {}).update(fields)

    def size(self, owner: int) -> int:
        """Bytes of JSON held for ``owner``."""
        return sum(len(v) for v in self.data.get(owner, {}).values())


class RedisCheckpointStore:
    """One hash per owner partition; a save is a single ``HSET`` (atomic)."""

    def __init__(self, client: aioredis.Redis | RedisCluster, prefix: str = "cx") -> None:
        self.client = client
        self.prefix = prefix

    def key(self, owner: int) -> str:
        return f"{self.prefix}:{{d{owner}}}:detect"

    async def load(self, owner: int) -> dict[str, str]:
        raw: dict[str, str] = await self.client.hgetall(self.key(owner))  # type: ignore[assignment]
        return dict(raw)

    async def save(self, owner: int, fields: Mapping[str, str]) -> None:
        if fields:
            await self.client.hset(self.key(owner), mapping=dict(fields))  # type: ignore[arg-type]
