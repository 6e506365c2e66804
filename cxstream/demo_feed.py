"""What ``cxstream demo`` streams, and how fast: the generated shop, its feeding and rates.

:func:`demo_config` is the generated multi-country shop with two incidents (a carrier
delay and an app NPS drop). :class:`StreamFeeder` sends its lines to their topics at
a steady rate, :class:`LineCounter` counts the lines in the background for the
progress total, and :class:`RateMeter` turns a growing count into a smoothed rate.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from cxstream.clock import Clock
from cxstream.config import Settings
from cxstream.generator import (
    AppNpsDropIncident,
    CarrierDelayIncident,
    GeneratorConfig,
    Incident,
    default_countries,
    generate_lines,
)
from cxstream.producing import route

__all__ = ["LineCounter", "RateMeter", "StreamFeeder", "demo_config"]

_INVALID_RATE = 0.001


class RateMeter:
    """Events per second from a growing count, smoothed over a few seconds."""

    def __init__(self, clock: Clock, half_life_s: float = 2.0) -> None:
        self._clock = clock
        self._half_life_s = half_life_s
        self._last: tuple[float, int] | None = None
        self.rate = 0.0

    def update(self, count: int) -> float:
        now = self._clock.monotonic()
        if self._last is not None and now > self._last[0]:
            elapsed = now - self._last[0]
            instant = (count - self._last[1]) / elapsed
            self.rate += (1.0 - 0.5 ** (elapsed / self._half_life_s)) * (instant - self.rate)
        self._last = (now, count)
        return self.rate


class StreamFeeder:
    """Sends generated lines to their topics at ``rate`` lines per second, in order.

    Lines that cannot be routed (malformed ones) go to the feedback topic without a
    key, as a faulty upstream would send them, so that the worker dead-letters them.
    """

    def __init__(
        self, lines: Iterator[dict[str, Any] | str], settings: Settings, rate: float, clock: Clock
    ) -> None:
        self._lines = lines
        self._settings = settings
        self._fallback = settings.topics.feedback
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self._rate = rate
        self._clock = clock
        self._chunk = max(50, min(5000, int(rate / 20)))
        self.produced = 0
        self.done = False
        #: Event time of the latest event the broker acknowledged.
        self.stream_time: datetime | None = None

    def _next_chunk(self) -> tuple[list[tuple[str, bytes | None, bytes]], str | None]:
        """Generate, encode and route the next lines (CPU work, so it runs in a thread)."""
        records: list[tuple[str, bytes | None, bytes]] = []
        latest: str | None = None
        for item in itertools.islice(self._lines, self._chunk):
            if isinstance(item, str):
                raw = item.encode("utf-8")
            else:
                raw, latest = self._encode(item).encode("utf-8"), item.get("ts", latest)
            target = route(raw, self._settings)
            topic, key = (self._fallback, None) if isinstance(target, str) else target
            records.append((topic, key, raw))
        return records, latest

    async def run(self, producer: AIOKafkaProducer) -> None:
        """Send every line, a chunk at a time, pacing the chunks to the rate."""
        started = self._clock.monotonic()
        while True:
            records, latest = await asyncio.to_thread(self._next_chunk)
            if not records:
                break
            sent = [await producer.send(topic, value=raw, key=key) for topic, key, raw in records]
            await asyncio.gather(*sent)
            self.produced += len(records)
            if latest is not None:
                self.stream_time = datetime.fromisoformat(latest).astimezone(UTC)
            delay = started + self.produced / self._rate - self._clock.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        self.done = True


def demo_config(*, days: int, seed: int, start: datetime) -> GeneratorConfig:
    """The generated shop: default countries, a carrier delay and an app NPS drop."""
    countries = default_countries()
    span = timedelta(days=days)
    delayed = countries[min(4, len(countries) - 1)]
    delay_start = start + span * 0.4
    drop_start = start + span * 0.7
    incidents: tuple[Incident, ...] = (
        CarrierDelayIncident(
            country=delayed.code,
            carrier=delayed.carriers[0].name,
            start=delay_start,
            end=delay_start + min(timedelta(days=2), span * 0.25),
            extra_delay_days=2.0,
        ),
        AppNpsDropIncident(
            country=countries[0].code,
            start=drop_start,
            end=drop_start + min(timedelta(days=1.5), span * 0.25),
        ),
    )
    return GeneratorConfig(
        days=days, seed=seed, start=start, invalid_rate=_INVALID_RATE, incidents=incidents
    )


class LineCounter:
    """Counts the lines of the stream in a background thread, for the progress total."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.total: int | None = None
        self._config = config
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._count, name="demo-line-count", daemon=True)

    def start(self) -> LineCounter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _count(self) -> None:
        count = 0
        for _ in generate_lines(self._config):
            count += 1
            if count % 4096 == 0 and self._stop.is_set():
                return
        self.total = count
