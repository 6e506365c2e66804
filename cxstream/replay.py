"""``cxstream replay``: drive the engine over event files, in event-time order, without Kafka.

Files are read lazily and merged by ``ts``; each file passes through a bounded
reorder buffer so that mildly shuffled files still come out in order without
loading everything into memory. Rejected lines go to ``deadletter.jsonl``; the
figures the engine computed go to ``figures.jsonl``; with a detection stage, the
alert state changes it raised go to ``alerts.jsonl``.

Windows close as they do in the worker: the watermark is the smallest progress over
the input partitions (:mod:`cxstream.watermarks`), each event counting for the
partition its key is produced to, so a replay of the events a worker consumed closes
the same windows over the same counters and raises the same alerts.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxstream.decoding import DeadLetter, Envelope, EventDecoder, FileOrigin
from cxstream.detect_stage import DetectionStage
from cxstream.engine import Engine
from cxstream.figures import collect_figures
from cxstream.jsonl import JsonlWriter, LineReader
from cxstream.partitioning import partition_for
from cxstream.records import AlertRecord
from cxstream.watermarks import PartitionWatermarks, as_datetime

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
) -> Iterator[tuple[float, int, int, Envelope]]:
    heap: list[tuple[float, int, int, Envelope]] = []
    name = str(reader.path)
    for line_no, raw in reader:
        decoded = decoder.decode(raw, FileOrigin(name, line_no), REPLAY_STREAM, 0)
        if isinstance(decoded, DeadLetter):
            on_dead(decoded)
            continue
        item = (decoded.event.ts.timestamp(), index, line_no, decoded)
        if len(heap) >= reorder_window:
            yield heapq.heappushpop(heap, item)
        else:
            heapq.heappush(heap, item)
    while heap:
        yield heapq.heappop(heap)


def ordered_envelopes(
    readers: Sequence[LineReader],
    decoder: EventDecoder,
    on_dead: Callable[[DeadLetter], None],
    reorder_window: int = 50_000,
) -> Iterator[Envelope]:
    """Accepted events of all files merged by event time, numbered from 1 in that order."""
    merged = heapq.merge(
        *(
            _file_envelopes(reader, i, decoder, on_dead, reorder_window)
            for i, reader in enumerate(readers)
        ),
        key=lambda item: (item[0], item[1], item[2]),
    )
    for seq, (_, _, _, env) in enumerate(merged, start=1):
        yield Envelope(env.event, env.origin, REPLAY_STREAM, seq)


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
    ) -> None:
        self.engine = engine
        self.decoder = decoder
        self.batch_size = batch_size
        self.reorder_window = reorder_window
        self.stage = stage
        self.watermarks = PartitionWatermarks(engine.options.partitions)
        self._alerts: JsonlWriter | None = None

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
        if self.stage is not None:
            await self.stage.assign(range(self.engine.options.partitions))
        with (
            JsonlWriter(out_dir / "deadletter.jsonl") as dead,
            JsonlWriter(out_dir / "alerts.jsonl") as alerts,
        ):
            self._alerts = alerts

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
            # As a worker does once it has read everything: partitions without events
            # are idle and do not hold the watermark back.
            self.watermarks.mark_idle(range(self.engine.options.partitions))
            await self._detect(result)
            self._alerts = None
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
        }
        return result

    async def _process(self, batch: list[Envelope], result: ReplayResult) -> None:
        outcome = await self.engine.process(batch)
        result.events_read += len(batch)
        result.accepted += outcome.accepted
        result.duplicates += outcome.duplicates
        if self.stage is not None:
            partitions = self.engine.options.partitions
            progress: dict[int, float] = {}
            for env in batch:
                p = partition_for(env.event.key, partitions)
                ts = env.event.ts.timestamp()
                if ts > progress.get(p, float("-inf")):
                    progress[p] = ts
            self.watermarks.advance(progress)
            await self._detect(result)

    async def _detect(self, result: ReplayResult) -> None:
        if self.stage is None:
            return
        mark = self.watermarks.watermark()
        if mark is None:
            return
        records: list[AlertRecord] = await self.stage.advance(as_datetime(mark))
        result.alerts += len(records)
        if self._alerts is not None:
            for record in records:
                self._alerts.write(record.as_dict())
        await self.stage.commit()
