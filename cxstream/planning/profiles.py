"""Customer profiles the planner needs but the batch did not load.

:class:`~cxstream.engine.BatchOutcome` carries the profiles of the customers who
answered in the batch; customers whose orders were only touched by logistics events
are read here, from the profiles the engine stores:
:class:`RedisProfileReader` reads ``KeyLayout.customer(partition_for(id, partitions), id)``
with one ``MGET`` per hash tag, all in one pipeline (one round trip per batch; redis-py
cluster pipelines refuse ``mget``, so the command is sent with ``execute_command``);
:class:`MemoryProfileReader` reads a :class:`~cxstream.memory_store.MemoryStateStore`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from cxstream.config import Settings
from cxstream.keys import KeyLayout
from cxstream.memory_store import MemoryStateStore
from cxstream.partitioning import partition_for
from cxstream.profiles import CustomerProfile

__all__ = ["MemoryProfileReader", "ProfileReader", "RedisProfileReader"]


class ProfileReader(Protocol):
    """Reads stored customer profiles (unknown customers are left out)."""

    async def profiles(self, customer_ids: Iterable[str]) -> dict[str, CustomerProfile]: ...


class MemoryProfileReader:
    """Profiles from a :class:`MemoryStateStore`."""

    def __init__(self, store: MemoryStateStore) -> None:
        self.store = store

    async def profiles(self, customer_ids: Iterable[str]) -> dict[str, CustomerProfile]:
        stored = self.store.customers
        return {
            cid: CustomerProfile.from_json(cid, stored[cid])
            for cid in customer_ids
            if cid in stored
        }


class RedisProfileReader:
    """Profiles from the engine's keys in Redis (single node or Cluster)."""

    def __init__(
        self,
        client: aioredis.Redis | RedisCluster,
        *,
        key_prefix: str = "cx",
        partitions: int = 8,
    ) -> None:
        self.client = client
        self.keys = KeyLayout(key_prefix)
        self.partitions = partitions
        self.round_trips = 0

    @classmethod
    def from_settings(
        cls, settings: Settings, client: aioredis.Redis | RedisCluster | None = None
    ) -> RedisProfileReader:
        from cxstream.redis_client import connect_redis

        return cls(
            client if client is not None else connect_redis(settings),
            key_prefix=settings.key_prefix,
            partitions=settings.partitions,
        )

    async def profiles(self, customer_ids: Iterable[str]) -> dict[str, CustomerProfile]:
        by_partition: dict[int, list[str]] = defaultdict(list)
        for cid in dict.fromkeys(customer_ids):
            by_partition[partition_for(cid, self.partitions)].append(cid)
        if not by_partition:
            return {}
        groups = list(by_partition.items())
        pipe = self.client.pipeline(transaction=False)
        for p, ids in groups:
            pipe.execute_command("MGET", *(self.keys.customer(p, cid) for cid in ids))
        results: list[list[Any]] = await pipe.execute()
        self.round_trips += 1
        found: dict[str, CustomerProfile] = {}
        for (_, ids), values in zip(groups, results, strict=True):
            for cid, raw in zip(ids, values, strict=True):
                if raw is not None:
                    text = raw.decode() if isinstance(raw, bytes) else str(raw)
                    found[cid] = CustomerProfile.from_json(cid, text)
        return found
