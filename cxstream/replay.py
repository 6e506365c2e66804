"""``cxstream replay``: drive the engine over event files, in event-time order, without Kafka.

Files are read lazily and merged by ``ts``; each file passes through a bounded
reorder buffer so that mildly shuffled files still come out in order without
loading everything into memory. Rejected lines go to ``deadletter.jsonl``; the
figures the engine computed go to ``figures.jsonl``; with a detection stage, the
alert state changes it raised go to ``alerts.jsonl``; the actions decided go to
``actions.jsonl``: the notifications routing decided for the alerts, and with an
action planner the delay notices, apologies and VIP tasks the rules ask for. Events
that come out of the reorder buffer after their window was judged (a file shuffled
by more than it holds) are counted and reported in ``corrections.jsonl``
(:mod:`cxstream.corrections`).

Windows close once the replay has passed their end: events come in event-time order,
so nothing earlier is still to come (what a worker's watermark over all its input
streams, :mod:`cxstream.watermarks`, establishes). A window is therefore judged over
the same counters in both, and a replay of the events a worker consumed raises the
same alerts.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxstream.decoding import (
    DeadLetter,
    DecodedEvent,
    Envelope,
    EventDecoder,
    FileOrigin,
    Rejected,
)
from cxstream.detect_stage import DetectionStage
from cxstream.engine import Engine
from cxstream.figures import collect_figures
from cxstream.firing import MemoryFiringAlerts
from cxstream.jsonl import JsonlWriter, LineReader
from cxstream.planning import ActionPlanner
from cxstream.records import ActionRecord
from cxstream.watermarks import as_datetime

__all__ = ["REPLAY_STREAM", "ReplayResult", "Replayer", "ordered_envelopes"]

REPLAY_STREAM = "replay"


@dataclass(slots=True)
class ReplayResult:
    """Summary of one replay run."""

    events_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    out_of_order: int = 0
    segments: int = 0
    alerts: int = 0
    actions: int = 0
    corrections: int = 0
    elapsed_s: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return self.events_read / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "events_read": self.events_read,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "out_of_order": self.out_of_order,
            "segments": self.segments,
            "alerts": self.alerts,
            "actions": self.actions,
            "corrections": self.corrections,
            "elapsed_s": round(self.elapsed_s, 3),
            "events_per_s": round(self.events_per_s, 1),
            "outputs": self.outputs,
        }


def _file_envelopes(
    reader: LineReader,
    index: int,
    decoder: EventDecoder,
    on_dead: Callable[[DeadLetter], None],
    reorder_window: int,
) -> Iterator[tuple[float, int, int, DecodedEvent]]:
    # Events wait in the reorder buffer without an envelope or origin (made once they
    # leave it): fewer objects held, so less work for the garbage collector.
    heap: list[tuple[float, int, int, DecodedEvent]] = []
    name = str(reader.path)
    decode = decoder.decode_event
    push, pushpop = heapq.heappush, heapq.heappushpop
    for line_no, raw in reader:
        event = decode(raw)
        if isinstance(event, Rejected):
            on_dead(DeadLetter(event.raw, FileOrigin(name, line_no), event.error))
            continue
        item = (event.ts.timestamp(), index, line_no, event)
        if len(heap) >= reorder_window:
            yield pushpop(heap, item)
        else:
            push(heap, item)
    while heap:
        yield heapq.heappop(heap)


def ordered_envelopes(
    readers: Sequence[LineReader],
    decoder: EventDecoder,
    on_dead: Callable[[DeadLetter], None],
    reorder_window: int = 50_000,
) -> Iterator[Envelope]:
    """Accepted events of all files merged by event time, numbered from 1 in that order."""
    names = [str(reader.path) for reader in readers]
    sources = [
        _file_envelopes(reader, i, decoder, on_dead, reorder_window)
        for i, reader in enumerate(readers)
    ]
    # (time, file, line) is unique, so the items compare without reaching the event.
    merged = sources[0] if len(sources) == 1 else heapq.merge(*sources)
    for seq, (_, index, line_no, event) in enumerate(merged, start=1):
        yield Envelope(event, FileOrigin(names[index], line_no), REPLAY_STREAM, seq)


#: How many batches the detection stage judges between two checkpoints in a replay.
CHECKPOINT_EVERY_BATCHES = 50


class Replayer:
    """Runs files through an :class:`Engine` and writes the replay outputs."""

    def __init__(
        self,
        engine: Engine,
        decoder: EventDecoder,
        *,
        batch_size: int = 2000,
        reorder_window: int = 50_000,
        stage: DetectionStage | None = None,
        planner: ActionPlanner | None = None,
        deliver: Callable[[ActionRecord], Awaitable[None]] | None = None,
        firing: MemoryFiringAlerts | None = None,
    ) -> None:
        self.engine = engine
        self.decoder = decoder
        self.batch_size = batch_size
        self.reorder_window = reorder_window
        self.stage = stage
        self.planner = planner
        self.deliver = deliver
        self.firing = firing if firing is not None else MemoryFiringAlerts()
        self._mark = float("-inf")
        self._alerts: JsonlWriter | None = None
        self._actions: JsonlWriter | None = None
        self._corrections: JsonlWriter | None = None
        self._detected = 0

    async def run(
        self,
        files: Sequence[Path],
        out_dir: Path,
        progress: Callable[[int, int], None] | None = None,
    ) -> ReplayResult:
        """Replay ``files`` into ``out_dir``; ``progress(done_bytes, total_bytes)`` is called
        after each batch."""
        out_dir.mkdir(parents=True, exist_ok=True)
        result = ReplayResult()
        await self.engine.store.recover(range(self.engine.options.partitions))
        readers = [LineReader(Path(f)) for f in files]
        total_bytes = sum(r.size for r in readers)
        started = time.perf_counter()
        last_ts = float("-inf")
        self._mark = float("-inf")
        if self.stage is not None:
            await self.stage.assign(range(self.engine.options.partitions))
        with (
            JsonlWriter(out_dir / "deadletter.jsonl") as dead,
            JsonlWriter(out_dir / "alerts.jsonl") as alerts,
            JsonlWriter(out_dir / "actions.jsonl") as actions,
            JsonlWriter(out_dir / "corrections.jsonl") as corrections,
        ):
            self._alerts, self._actions = alerts, actions
            self._corrections = corrections

            def on_dead(letter: DeadLetter) -> None:
                result.rejected += 1
                result.events_read += 1
                dead.write(letter.as_dict())

            batch: list[Envelope] = []
            for env in ordered_envelopes(readers, self.decoder, on_dead, self.reorder_window):
                ts = env.event.ts.timestamp()
                if ts < last_ts:
                    result.out_of_order += 1
                last_ts = max(last_ts, ts)
                batch.append(env)
                if len(batch) >= self.batch_size:
                    await self._process(batch, result)
                    batch = []
                    if progress is not None:
                        progress(sum(r.progress for r in readers), total_bytes)
            if batch:
                await self._process(batch, result)
            await self._detect(result)
            if self.stage is not None:
                await self.stage.commit()
            self._alerts = self._actions = self._corrections = None
        if progress is not None:
            progress(total_bytes, total_bytes)
        figures = await collect_figures(self.engine.store, self.engine.options.bucket_seconds)
        with JsonlWriter(out_dir / "figures.jsonl") as writer:
            for row in figures:
                writer.write(row)
        result.segments = len({row["series"] for row in figures})
        result.elapsed_s = time.perf_counter() - started
        result.outputs = {
            "deadletter": str(out_dir / "deadletter.jsonl"),
            "figures": str(out_dir / "figures.jsonl"),
            "alerts": str(out_dir / "alerts.jsonl"),
            "actions": str(out_dir / "actions.jsonl"),
            "corrections": str(out_dir / "corrections.jsonl"),
        }
        return result

    async def _process(self, batch: list[Envelope], result: ReplayResult) -> None:
        outcome = await self.engine.prepare(batch)
        actions: list[ActionRecord] = []
        if self.planner is not None:
            # Decided before the state is written, as the worker does (outbox first),
            # delivered after it (the notifiers read the stored profiles).
            actions = await self.planner.plan(outcome, await self.firing.firing())
            result.actions += len(actions)
        await self.engine.commit(outcome)
        await self._emit_actions(actions)
        result.events_read += len(batch)
        result.accepted += outcome.accepted
        result.duplicates += outcome.duplicates
        if self.stage is not None:
            self._mark = max(self._mark, max(env.event.ts.timestamp() for env in batch))
            await self._detect(result)

    async def _detect(self, result: ReplayResult) -> None:
        if self.stage is None:
            return
        if self._mark == float("-inf"):
            return
        decided = await self.stage.advance(as_datetime(self._mark))
        await self.firing.update(decided.alerts)
        result.alerts += len(decided.alerts)
        result.actions += len(decided.actions)
        result.corrections += len(decided.corrections)
        if self._alerts is not None:
            for record in decided.alerts:
                self._alerts.write(record.as_dict())
        if self._corrections is not None:
            for correction in decided.corrections:
                self._corrections.write(correction.as_dict())
        await self._emit_actions(decided.actions)
        # The lines are written: the stage's checkpoint may follow. Not after every
        # batch (a replay is not resumed halfway; its last checkpoint is what counts).
        self._detected += 1
        if self._detected % CHECKPOINT_EVERY_BATCHES == 0:
            await self.stage.commit()

    async def _emit_actions(self, actions: Sequence[ActionRecord]) -> None:
        for action in actions:
            if self._actions is not None:
                self._actions.write(action.as_dict())
            if self.deliver is not None:
                await self.deliver(action)
