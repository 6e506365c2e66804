"""The stream's event-time watermark, from the progress of every input stream.

Windows close when *the stream* has passed their end, not when one input has: events
of one segment arrive on every partition of every input topic (they are keyed by
order), read by different workers, and feedback may be held back while logistics
runs ahead. Each input stream (a topic partition) reports its progress, the largest
event time processed from it; the watermark is the smallest progress over the
streams, so a window closes only once every stream has moved past it.

A stream that has nothing to say must not hold the watermark back forever: its owner
marks it *idle* when it has read everything there is (no lag), holds nothing back and
nothing arrived for a while, and idle streams are left out of the minimum (as
Flink's idleness does). The next event of an idle stream clears the mark.

:class:`StreamWatermarks` is the pure rule; :class:`RedisWatermarkStore` shares the
streams' progress between workers through one Redis hash (moves forward only), and
:class:`MemoryWatermarkStore` serves tests.

>>> marks = StreamWatermarks(["feedback/0", "logistics/0", "logistics/1"])
>>> marks.advance({"feedback/0": 100.0, "logistics/0": 50.0})
>>> marks.watermark() is None  # logistics/1 has not reported
True
>>> marks.advance({"logistics/1": 80.0})
>>> marks.watermark()
50.0
>>> marks.mark_idle(["logistics/0"])
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
    "RedisWatermarkStore",
    "StreamWatermarks",
    "WatermarkStore",
    "as_datetime",
]


def as_datetime(seconds: float) -> datetime:
    """Epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, tz=UTC)


class StreamWatermarks:
    """Progress per input stream (epoch seconds) and the watermark from it."""

    def __init__(self, streams: Iterable[str]) -> None:
        self.streams = sorted(set(streams))
        self.progress: dict[str, float] = {}
        self.idle: set[str] = set()

    def advance(self, progress: Mapping[str, float]) -> None:
        """Record processed event times; a stream that reports is no longer idle."""
        for stream, ts in progress.items():
            if ts > self.progress.get(stream, float("-inf")):
                self.progress[stream] = ts
            self.idle.discard(stream)

    def mark_idle(self, streams: Iterable[str]) -> None:
        self.idle.update(streams)

    def watermark(self) -> float | None:
        """Smallest progress over the streams that are not idle (``None`` while one of
        them has not reported); when all are idle, the largest progress."""
        active = [s for s in self.streams if s not in self.idle]
        if not active:
            return max(self.progress.values(), default=None)
        if any(s not in self.progress for s in active):
            return None
        return min(self.progress[s] for s in active)


class WatermarkStore(Protocol):
    """Where the streams' progress is shared."""

    async def advance(self, progress: Mapping[str, float]) -> None:
        """Move these streams forward (never back) and clear their idle marks."""
        ...

    async def mark_idle(self, streams: Iterable[str]) -> None: ...

    async def read(self, streams: Iterable[str]) -> StreamWatermarks:
        """The progress of these streams (others are ignored)."""
        ...


class MemoryWatermarkStore:
    """Progress kept in this process (tests)."""

    def __init__(self) -> None:
        self._progress: dict[str, float] = {}
        self._idle: set[str] = set()

    async def advance(self, progress: Mapping[str, float]) -> None:
        for stream, ts in progress.items():
            self._progress[stream] = max(ts, self._progress.get(stream, ts))
            self._idle.discard(stream)

    async def mark_idle(self, streams: Iterable[str]) -> None:
        self._idle.update(streams)

    async def read(self, streams: Iterable[str]) -> StreamWatermarks:
        marks = StreamWatermarks(streams)
        wanted = set(marks.streams)
        marks.progress = {s: t for s, t in self._progress.items() if s in wanted}
        marks.idle = self._idle & wanted
        return marks


# KEYS: 1 progress hash. ARGV: pairs of stream, event time. Moves forward only and
# clears the idle flag (field "idle:<stream>").
_ADVANCE = """
for i = 1, #ARGV, 2 do
  local stream, ts = ARGV[i], tonumber(ARGV[i + 1])
  local old = tonumber(redis.call('HGET', KEYS[1], stream) or '-inf')
  if ts > old then redis.call('HSET', KEYS[1], stream, ARGV[i + 1]) end
  redis.call('HDEL', KEYS[1], 'idle:' .. stream)
end
return 1
"""


class RedisWatermarkStore:
    """Progress of every stream in one Redis hash, ``{prefix}:{wm}:progress``.

    One small hash (a field per input topic partition) in one slot: every worker reads
    all of it in one round trip.
    """

    def __init__(self, client: aioredis.Redis | RedisCluster, prefix: str = "cx") -> None:
        self.client = client
        self.key = f"{prefix}:{{wm}}:progress"
        self._script = client.register_script(_ADVANCE)

    async def advance(self, progress: Mapping[str, float]) -> None:
        if not progress:
            return
        args: list[str] = []
        for stream, ts in sorted(progress.items()):
            args += [stream, repr(float(ts))]
        await self._script(keys=[self.key], args=args)

    async def mark_idle(self, streams: Iterable[str]) -> None:
        fields = {f"idle:{s}": "1" for s in streams}
        if fields:
            await self.client.hset(self.key, mapping=fields)  # type: ignore[arg-type]

    async def read(self, streams: Iterable[str]) -> StreamWatermarks:
        raw: dict[str, str] = await self.client.hgetall(self.key)  # type: ignore[assignment]
        marks = StreamWatermarks(streams)
        wanted = set(marks.streams)
        for name, value in raw.items():
            if name.startswith("idle:"):
                if name[5:] in wanted:
                    marks.idle.add(name[5:])
            elif name in wanted:
                marks.progress[name] = float(value)
        return marks
