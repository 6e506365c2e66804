"""The stream's event-time watermark, from the progress of every input partition.

Windows close when *the stream* has passed their end, not when one partition has:
events of one segment arrive on every partition (they are keyed by order), and
partitions are read by different workers. Each partition's progress is the largest
event time processed in it; the stream's watermark is the smallest progress over the
partitions, so a window closes only once every partition has moved past it.

A partition that has nothing to say must not hold the stream back forever: its owner
marks it *idle* when it has read everything there is (no lag) and nothing arrived for
a while, and idle partitions are left out of the minimum (as Flink's idleness does).
The next event of an idle partition clears the mark.

:class:`PartitionWatermarks` is the pure rule; :class:`RedisWatermarkStore` shares the
partitions' progress between workers through one Redis hash (moves forward only), and
:class:`MemoryWatermarkStore` serves replay and tests.

>>> marks = PartitionWatermarks(partitions=3)
>>> marks.advance({0: 100.0, 1: 50.0})
>>> marks.watermark() is None  # partition 2 has not reported
True
>>> marks.advance({2: 80.0})
>>> marks.watermark()
50.0
>>> marks.mark_idle([1])
>>> marks.watermark()
80.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

__all__ = [
    "MemoryWatermarkStore",
    "PartitionWatermarks",
    "RedisWatermarkStore",
    "WatermarkStore",
    "as_datetime",
]


def as_datetime(seconds: float) -> datetime:
    """Epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, tz=UTC)


class PartitionWatermarks:
    """Progress per input partition (epoch seconds) and the stream watermark from it."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.progress: dict[int, float] = {}
        self.idle: set[int] = set()

    def advance(self, progress: Mapping[int, float]) -> None:
        """Record processed event times; a partition that reports is no longer idle."""
        for p, ts in progress.items():
            if ts > self.progress.get(p, float("-inf")):
                self.progress[p] = ts
            self.idle.discard(p)

    def mark_idle(self, partitions: Iterable[int]) -> None:
        self.idle.update(partitions)

    def watermark(self) -> float | None:
        """Smallest progress over the partitions that are not idle (``None`` while one
        of them has not reported); when all are idle, the largest progress."""
        active = [p for p in range(self.partitions) if p not in self.idle]
        if not active:
            return max(self.progress.values(), default=None)
        if any(p not in self.progress for p in active):
            return None
        return min(self.progress[p] for p in active)


class WatermarkStore(Protocol):
    """Where the partitions' progress is shared."""

    async def advance(self, progress: Mapping[int, float]) -> None:
        """Move these partitions forward (never back) and clear their idle marks."""
        ...

    async def mark_idle(self, partitions: Iterable[int]) -> None: ...

    async def read(self, partitions: int) -> PartitionWatermarks: ...


class MemoryWatermarkStore:
    """Progress kept in this process (replay, tests)."""

    def __init__(self) -> None:
        self._progress: dict[int, float] = {}
        self._idle: set[int] = set()

    async def advance(self, progress: Mapping[int, float]) -> None:
        for p, ts in progress.items():
            self._progress[p] = max(ts, self._progress.get(p, ts))
            self._idle.discard(p)

    async def mark_idle(self, partitions: Iterable[int]) -> None:
        self._idle.update(partitions)

    async def read(self, partitions: int) -> PartitionWatermarks:
        marks = PartitionWatermarks(partitions)
        marks.progress = dict(self._progress)
        marks.idle = set(self._idle)
        return marks


# KEYS: 1 progress hash. ARGV: pairs of partition, event time. Moves forward only and
# clears the idle flag (field "idle:<p>").
_ADVANCE = """
for i = 1, #ARGV, 2 do
  local p, ts = ARGV[i], tonumber(ARGV[i + 1])
  local old = tonumber(redis.call('HGET', KEYS[1], p) or '-inf')
  if ts > old then redis.call('HSET', KEYS[1], p, ARGV[i + 1]) end
  redis.call('HDEL', KEYS[1], 'idle:' .. p)
end
return 1
"""


class RedisWatermarkStore:
    """Progress of every partition in one Redis hash, ``{prefix}:{wm}:progress``.

    One small hash (a field per partition) in one slot: every worker reads all of it
    in one round trip.
    """

    def __init__(self, client: aioredis.Redis | RedisCluster, prefix: str = "cx") -> None:
        self.client = client
        self.key = f"{prefix}:{{wm}}:progress"
        self._script = client.register_script(_ADVANCE)

    async def advance(self, progress: Mapping[int, float]) -> None:
        if not progress:
            return
        args: list[str] = []
        for p, ts in sorted(progress.items()):
            args += [str(p), repr(float(ts))]
        await self._script(keys=[self.key], args=args)

    async def mark_idle(self, partitions: Iterable[int]) -> None:
        fields = {f"idle:{p}": "1" for p in partitions}
        if fields:
            await self.client.hset(self.key, mapping=fields)  # type: ignore[arg-type]

    async def read(self, partitions: int) -> PartitionWatermarks:
        raw: dict[str, str] = await self.client.hgetall(self.key)  # type: ignore[assignment]
        marks = PartitionWatermarks(partitions)
        for name, value in raw.items():
            if name.startswith("idle:"):
                marks.idle.add(int(name[5:]))
            else:
                marks.progress[int(name)] = float(value)
        return marks
