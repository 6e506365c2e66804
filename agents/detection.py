"""The worker's detection loop: watermark in, alerts and notifications out, then checkpoint.

Runs on a timer beside the ingest agent. Each tick reads the stream watermark that
all workers' ingest loops maintain in Redis, lets the detection stage close the
windows it passed for the owner partitions this worker holds (those of its assigned
feedback partitions), publishes the alert lines to the alerts topic keyed by alert id
and the notifications routing decided to the actions outbox keyed by action id, waits
until the broker has them, and only then commits the stage's checkpoint.
Input streams of this worker that have been read to the end, hold nothing back and
saw nothing for a while are marked idle, so that a quiet stream does not hold the
watermark back.

Each tick that runs the stage is timed (``cxstream_stage_seconds{stage="detection"}``);
the scores of firing alert lines and the actions routing decided are counted in a
:class:`~cxstream.metrics.Metrics` (a private one unless given).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime

from cxstream.detect_stage import DetectionStage
from cxstream.firing import FiringAlerts
from cxstream.metrics import Metrics
from cxstream.records import ActionRecord, AlertRecord, CorrectionRecord
from cxstream.retry import Backoff, retry_forever
from cxstream.watermarks import WatermarkStore, as_datetime

__all__ = ["DetectionLoop"]

log = logging.getLogger("cxstream.detection")

#: Publishes alert lines, decided actions (to the outbox) and corrections, and returns
#: once the broker has them all.
PublishAlerts = Callable[
    [Sequence[AlertRecord], Sequence[ActionRecord], Sequence[CorrectionRecord]], Awaitable[None]
]
#: Whether an input stream (``topic/partition``) has been read to its end and nothing of
#: it is held back.
CaughtUp = Callable[[str], bool]


class DetectionLoop:
    """One tick at a time: idle marks, watermark, stage, publish, commit."""

    def __init__(
        self,
        stage: DetectionStage,
        watermarks: WatermarkStore,
        publish: PublishAlerts,
        *,
        streams: Iterable[str],
        idle_after_s: float,
        backoff: Backoff,
        firing: FiringAlerts | None = None,
        metrics: Metrics | None = None,
        on_watermark: Callable[[float], None] | None = None,
    ) -> None:
        self.stage = stage
        #: Told every watermark read (the engine recognises late events by it).
        self.on_watermark = on_watermark
        self.watermarks = watermarks
        self.publish = publish
        self.streams = sorted(set(streams))
        self.idle_after_s = idle_after_s
        self.backoff = backoff
        self.firing = firing
        self.metrics = metrics if metrics is not None else Metrics()
        self.alerts_published = 0
        self.actions_published = 0
        self.corrections_published = 0
        self.retries = 0
        self._lock = asyncio.Lock()
        self._assigned: set[str] = set()
        self._idle_marked: set[str] = set()

    async def assign(self, owners: Iterable[int], streams: Iterable[str]) -> None:
        """The feedback partitions this worker now holds (its detection owners) and the
        input streams it reads (whose idleness it reports)."""
        async with self._lock:
            wanted = set(owners)
            self.stage.revoke(set(self.stage.owners) - wanted)
            await retry_forever(
                lambda: self.stage.assign(wanted),
                self.backoff,
                what="checkpoint load",
                on_retry=self._count_retry,
            )
            self._assigned = set(streams)
            self._idle_marked &= self._assigned

    async def tick(self, last_event_at: dict[str, float], caught_up: CaughtUp) -> None:
        """Mark idle partitions, then close the windows the watermark passed."""
        async with self._lock:
            now = time.monotonic()
            idle = {
                stream
                for stream in self._assigned
                if caught_up(stream)
                and now - last_event_at.get(stream, float("-inf")) >= self.idle_after_s
            }
            if idle - self._idle_marked:
                await self.watermarks.mark_idle(sorted(idle))
            self._idle_marked = idle
            if not self.stage.owners:
                return
            marks = await self.watermarks.read(self.streams)
            mark = marks.watermark()
            if mark is None:
                return
            if self.on_watermark is not None:
                self.on_watermark(mark)
            with self.metrics.timed("detection"):
                await self._advance(as_datetime(mark))

    async def _advance(self, mark: datetime) -> None:
        """Close the windows up to ``mark``, publish what they decided, checkpoint."""
        decided = await self.stage.advance(mark)
        records, actions, corrections = decided.alerts, decided.actions, decided.corrections
        if records or actions or corrections:
            await retry_forever(
                lambda: self.publish(records, actions, corrections),
                self.backoff,
                what="alert publish",
                on_retry=self._count_retry,
            )
            self.alerts_published += len(records)
            self.actions_published += len(actions)
            self.corrections_published += len(corrections)
            for correction in corrections:
                log.info(
                    "correction %s %s %s %s -> %s (%d late events)",
                    correction.kpi,
                    correction.segment,
                    correction.window_start.isoformat(),
                    correction.previous,
                    correction.value,
                    correction.late_events,
                    extra={"stage": "detection"},
                )
            self.metrics.actions_decided(a.type for a in actions)
            if records and self.firing is not None:
                firing = self.firing
                await retry_forever(
                    lambda: firing.update(records),
                    self.backoff,
                    what="firing alerts update",
                    on_retry=self._count_retry,
                )
            for record in records:
                if record.status == "firing":
                    self.metrics.score(record.kpi, record.score)
                log.info(
                    "alert %s %s %s %s",
                    record.status,
                    record.kpi,
                    record.segment,
                    record.alert_id,
                    extra={"stage": "detection"},
                )
        await self.stage.commit()

    def _count_retry(self, attempt: int, exc: BaseException) -> None:
        self.retries += 1
