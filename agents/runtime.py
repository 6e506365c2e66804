"""The worker's processing loop, between Faust's batches and the engine.

For each batch taken from the input topics: decode the raw values (bad ones go to
the dead-letter topic, and are acknowledged only once the broker has them), let the
aligner hold feedback that is ahead of the logistics stream, let the planner decide
the batch's customer actions and publish them to the outbox, run the engine with
retries until the state is written, record how far in event time each input stream has
got (for the watermark that closes detection windows), and only then
acknowledge the events so that Faust commits their offsets. A Redis outage
therefore stops progress, never loses or double-counts events.

It counts what it does in a :class:`~cxstream.metrics.Metrics` (events in per topic,
dead letters by reason kind, the latency of each processed batch, actions decided);
without one given it keeps a private one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cxstream.alignment import EventTimeAligner
from cxstream.config import Settings
from cxstream.decoding import DeadLetter, Envelope, EventDecoder, KafkaOrigin
from cxstream.engine import Engine
from cxstream.firing import FiringAlerts
from cxstream.metrics import Metrics
from cxstream.planning import ActionPlanner
from cxstream.records import ActionRecord
from cxstream.retry import Backoff, retry_forever
from cxstream.watermarks import WatermarkStore

__all__ = ["IngestRuntime", "IngestStats"]

log = logging.getLogger("cxstream.worker")

#: Publishes ``(key, dead-letter JSON)`` pairs and returns once the broker has them all.
SendDeadLetters = Callable[[Sequence[tuple[bytes | None, bytes]]], Awaitable[None]]
Ack = Callable[[Any], None]
#: Publishes decided actions to the outbox and returns once the broker has them all.
PublishActions = Callable[[Sequence[ActionRecord]], Awaitable[None]]


@dataclass(slots=True)
class IngestStats:
    """Running totals of one worker."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    retries: int = 0
    actions: int = 0
    late: int = 0
    started: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict[str, Any]:
        elapsed = max(1e-9, time.monotonic() - self.started)
        return {
            "received": self.received,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "batches": self.batches,
            "retries": self.retries,
            "actions_decided": self.actions,
            "late_events": self.late,
            "events_per_s": round(self.received / elapsed, 1),
        }


class IngestRuntime:
    """Decode, align, process, acknowledge: one batch at a time."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        aligner: EventTimeAligner[Any],
        send_dead_letters: SendDeadLetters,
        ack: Ack,
        decoder: EventDecoder | None = None,
        watermarks: WatermarkStore | None = None,
        planner: ActionPlanner | None = None,
        firing: FiringAlerts | None = None,
        publish_actions: PublishActions | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.aligner = aligner
        self.send_dead_letters = send_dead_letters
        self.ack = ack
        self.decoder = decoder or EventDecoder(settings.max_payload_bytes)
        self.backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)
        self.stats = IngestStats()
        self.last_offsets: dict[str, int] = {}
        self.watermarks = watermarks
        self.planner = planner
        self.firing = firing
        self.publish_actions = publish_actions
        self.metrics = metrics if metrics is not None else Metrics()
        #: Monotonic time of the last event processed per input stream (topic/partition).
        self.last_event_at: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._stream_names: dict[tuple[str, int], str] = {}

    async def handle(
        self, records: Sequence[tuple[str, int, int, bytes | None, bytes, Any]]
    ) -> None:
        """Process ``(topic, partition, offset, key, value, token)`` records; ``token`` is what
        :attr:`ack` acknowledges."""
        accepted: list[tuple[Envelope, Any]] = []
        dead: list[tuple[DeadLetter, bytes | None, Any]] = []
        names = self._stream_names
        last_offsets = self.last_offsets
        decode = self.decoder.decode
        for topic, partition, offset, key, value, token in records:
            stream = names.get((topic, partition))
            if stream is None:
                stream = names[(topic, partition)] = f"{topic}/{partition}"
            if offset > last_offsets.get(stream, -1):
                last_offsets[stream] = offset
            decoded = decode(value or b"", KafkaOrigin(topic, partition, offset), stream, offset)
            if isinstance(decoded, DeadLetter):
                dead.append((decoded, key, token))
            else:
                accepted.append((decoded, token))
        self.stats.received += len(records)
        self.metrics.events_in(Counter(record[0] for record in records))
        if dead:
            payloads = [(key, letter.to_json()) for letter, key, _ in dead]
            await retry_forever(
                lambda: self.send_dead_letters(payloads),
                self.backoff,
                what="dead-letter publish",
                on_retry=self._count_retry,
            )
            for letter, _, token in dead:
                self.ack(token)
                self.metrics.deadlettered("kafka", letter.error)
        self.stats.dead_lettered += len(dead)
        await self.process(self.aligner.offer(accepted))

    async def flush_held(self) -> None:
        """Process whatever the aligner released because time passed (called periodically)."""
        await self.process(self.aligner.offer([]))

    async def process(self, ready: list[tuple[Envelope, Any]]) -> None:
        if not ready:
            return
        async with self._lock:  # batches read-modify-write order state: one at a time
            with self.metrics.timed("ingest_batch"):
                await self._process(ready)

    async def _process(self, ready: list[tuple[Envelope, Any]]) -> None:
        envelopes = [env for env, _ in ready]
        outcome = await retry_forever(
            lambda: self.engine.prepare(envelopes),
            self.backoff,
            what="state read",
            on_retry=self._count_retry,
        )
        if self.planner is not None and self.publish_actions is not None:
            # Outbox first: the batch's actions are on the broker before its state is
            # written, so a crash in between decides them again (same ids) instead of
            # losing them to the events' dedup records.
            planner, publish, firing = self.planner, self.publish_actions, self.firing
            alerts = (
                await retry_forever(firing.firing, self.backoff, what="firing alerts")
                if firing is not None
                else []
            )
            actions = await retry_forever(
                lambda: planner.plan(outcome, alerts),
                self.backoff,
                what="action planning",
                on_retry=self._count_retry,
            )
            if actions:
                await retry_forever(
                    lambda: publish(actions),
                    self.backoff,
                    what="action publish",
                    on_retry=self._count_retry,
                )
                self.stats.actions += len(actions)
                self.metrics.actions_decided(a.type for a in actions)
        await retry_forever(
            lambda: self.engine.commit(outcome),
            self.backoff,
            what="state write",
            on_retry=self._count_retry,
        )
        if self.watermarks is not None:
            progress: dict[str, float] = {}
            now = time.monotonic()
            for env in envelopes:
                ts = env.event.ts.timestamp()
                if ts > progress.get(env.stream, float("-inf")):
                    progress[env.stream] = ts
                self.last_event_at[env.stream] = now
            store = self.watermarks
            await retry_forever(
                lambda: store.advance(progress),
                self.backoff,
                what="watermark write",
                on_retry=self._count_retry,
            )
        ack = self.ack
        for _, token in ready:
            ack(token)
        self.stats.batches += 1
        self.stats.accepted += outcome.accepted
        self.stats.duplicates += outcome.duplicates
        if outcome.late:
            self.stats.late += outcome.late
            self.metrics.late_events_total.inc(outcome.late)

    async def recover(self, partitions: Sequence[int]) -> None:
        """Finish the writes an earlier owner of these partitions committed but did not
        apply (it crashed); runs before any new event of them is processed."""
        async with self._lock:
            recovered = await retry_forever(
                lambda: self.engine.store.recover(partitions),
                self.backoff,
                what="recovery",
                on_retry=self._count_retry,
            )
        if recovered:
            log.info("recovered %d committed batches", recovered, extra={"stage": "recovery"})

    def _count_retry(self, attempt: int, exc: BaseException) -> None:
        self.stats.retries += 1
