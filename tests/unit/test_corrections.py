"""Events that arrive after their window was judged are counted and reported as corrections.

A replay whose reorder buffer is smaller than a file's disorder hands the engine an
answer from 09:10 after the stream reached 12:00: the 09:00-10:00 window was judged
at 10:10, so the answer changes a judged window. It is counted (the figures hold it)
and ``corrections.jsonl`` says how it moved each watched KPI of each segment it
belongs to. Answers within the allowed lateness are in their window's judgement and
give no correction; notes are forgotten once the stage commits, and a stage that
crashed before committing reports the same corrections again with the same ids.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cxstream.checkpoints import MemoryCheckpointStore, owner_of
from cxstream.config import Settings
from cxstream.decoding import EventDecoder, FileOrigin
from cxstream.detection_setup import detection_stage
from cxstream.engine import Engine, EngineOptions
from cxstream.late_events import LateEvent
from cxstream.memory_store import MemoryStateStore
from cxstream.replay import Replayer
from cxstream.watermarks import as_datetime
from cxstream.windows import bucket_of

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SETTINGS = Settings()


def answer(event_id: str, minutes: int, score: int = 9, channel: str = "web") -> dict[str, Any]:
    return {
        "kind": "feedback",
        "event_id": event_id,
        "ts": (T0 + timedelta(minutes=minutes)).isoformat(),
        "customer_id": f"c-{event_id}",
        "score": score,
        "channel": channel,
        "country": "DE",
    }


def write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def in_order(until_minutes: int = 240) -> list[dict[str, Any]]:
    """An answer every 2 minutes from 08:00, all promoters."""
    return [answer(f"a{m}", m) for m in range(0, until_minutes, 2)]


async def replay(
    lines: list[dict[str, Any]], out: Path, store: MemoryStateStore | None = None
) -> tuple[list[dict[str, Any]], MemoryStateStore]:
    store = store if store is not None else MemoryStateStore()
    replayer = Replayer(
        Engine(store, EngineOptions.from_settings(SETTINGS)),
        EventDecoder(),
        batch_size=10,
        reorder_window=1,
        stage=detection_stage(SETTINGS, store, MemoryCheckpointStore()),
    )
    result = await replayer.run([write(out.parent / f"{out.name}.jsonl", lines)], out)
    rows = [json.loads(line) for line in (out / "corrections.jsonl").read_text().splitlines()]
    assert result.corrections == len(rows)
    return rows, store


async def test_an_answer_after_its_window_was_judged_is_reported_as_a_correction(
    tmp_path: Path,
) -> None:
    late = answer("late-1", 70, score=0)  # 09:10, arrives after 12:00
    rows, store = await replay([*in_order(), late], tmp_path / "out")

    country = [r for r in rows if r["segment"] == {"country": "DE"} and r["kpi"] == "nps"]
    assert len(country) == 1
    nps = country[0]
    assert nps["window"] == "1h"
    assert nps["window_start"] == "2026-03-02T09:00:00Z"
    assert nps["window_end"] == "2026-03-02T10:00:00Z"
    assert nps["previous"] == pytest.approx(100.0)
    assert nps["previous_volume"] == 30
    assert nps["value"] == pytest.approx((30 - 1) / 31 * 100)
    assert nps["volume"] == 31
    assert nps["late_events"] == 1
    assert nps["at"] == "2026-03-02T09:10:00Z"
    # Every watched segment the answer belongs to is corrected, not only the country.
    segments = {json.dumps(r["segment"], sort_keys=True) for r in rows if r["kpi"] == "nps"}
    assert json.dumps({"channel": "web", "country": "DE"}, sort_keys=True) in segments
    detractors = [
        r for r in rows if r["segment"] == {"country": "DE"} and r["kpi"] == "detractor_rate"
    ]
    assert detractors
    assert detractors[0]["value"] == pytest.approx(1 / 31)
    # The day window is not closed yet: it will be judged with the answer in it.
    assert all(r["window"] == "1h" for r in rows)
    # Counted, not dropped: the figures hold it, and the note was dealt with.
    assert any(counters.get("detractors") for counters in store.buckets["country=DE"].values())
    assert not any(store.late.values())


async def test_an_answer_within_the_allowed_lateness_is_judged_with_its_window(
    tmp_path: Path,
) -> None:
    # 11:55 arriving after 12:00: the 11:00-12:00 window closes only at 12:10.
    lines = [*in_order(242), answer("slightly-late", 235, score=0), answer("next", 244)]
    rows, store = await replay(lines, tmp_path / "out")
    assert rows == []
    assert not any(store.late.values())


async def test_a_second_late_answer_corrects_from_the_first_correction(tmp_path: Path) -> None:
    lines = [
        *in_order(),
        answer("late-1", 70, score=0),
        *[answer(f"b{m}", m) for m in range(240, 262, 2)],
    ]
    lines.append(answer("late-2", 75, score=0))
    rows, _ = await replay(lines, tmp_path / "out")
    country = [r for r in rows if r["segment"] == {"country": "DE"} and r["kpi"] == "nps"]
    assert [(r["previous_volume"], r["volume"]) for r in country] == [(30, 31), (31, 32)]
    assert country[1]["previous"] == pytest.approx(country[0]["value"])
    assert country[0]["correction_id"] != country[1]["correction_id"]


async def test_notes_are_forgotten_only_at_commit_and_a_retry_gives_the_same_ids() -> None:
    store = MemoryStateStore()
    checkpoints = MemoryCheckpointStore()
    engine = Engine(store, EngineOptions.from_settings(SETTINGS))
    decoder = EventDecoder()

    def envelopes(lines: list[dict[str, Any]]) -> list[Any]:
        out = []
        for i, line in enumerate(lines):
            env = decoder.decode(json.dumps(line).encode(), FileOrigin("t", i), "test/0", i)
            out.append(env)
        return out

    stage = detection_stage(SETTINGS, store, checkpoints)
    await stage.assign(range(SETTINGS.partitions))
    await engine.process(envelopes(in_order()))
    await stage.advance(as_datetime(engine.latest))
    await stage.commit()

    outcome = await engine.process(envelopes([answer("late-1", 70, score=0)]))
    assert outcome.late == 1
    owner = owner_of({"country": "DE"}, SETTINGS.partitions)
    assert set(store.late[owner]) == {"late-1"}

    first = await stage.advance(as_datetime(engine.latest))
    assert first.corrections
    # Crash before the commit: a new stage from the same checkpoint reports them again.
    again = detection_stage(SETTINGS, store, checkpoints)
    await again.assign(range(SETTINGS.partitions))
    second = await again.advance(as_datetime(engine.latest))
    assert [c.correction_id for c in second.corrections] == [
        c.correction_id for c in first.corrections
    ]
    assert set(store.late[owner]) == {"late-1"}
    await again.commit()
    assert not store.late[owner]
    assert (await again.advance(as_datetime(engine.latest))).corrections == []


async def test_the_engine_notes_only_events_older_than_the_allowed_lateness() -> None:
    store = MemoryStateStore()
    engine = Engine(store, EngineOptions.from_settings(SETTINGS))
    decoder = EventDecoder()

    def env(line: dict[str, Any], seq: int) -> Any:
        return decoder.decode(json.dumps(line).encode(), FileOrigin("t", seq), "fb/0", seq)

    # Nothing seen yet: nothing can be late.
    assert (await engine.process([env(answer("first", 120), 1)])).late == 0
    # 11:55 behind 12:00 is within the lateness (its bucket ends at 12:00).
    assert (await engine.process([env(answer("in-time", 115), 2)])).late == 0
    outcome = await engine.process([env(answer("old", 70, score=3), 3)])
    assert outcome.late == 1
    owner = owner_of({"country": "DE"}, SETTINGS.partitions)
    note = LateEvent.from_json("old", store.late[owner]["old"])
    ts = T0 + timedelta(minutes=70)
    assert note.bucket == bucket_of(ts, SETTINGS.bucket_seconds)
    assert note.ts == ts.timestamp()
    assert "country=DE" in note.series
    assert note.counters["detractors"] == 1
    # A stream this engine has not read yet is judged against what it learnt of the
    # watermark (after a restart or rebalance).
    engine.observe_watermark((T0 + timedelta(hours=5)).timestamp())
    other = decoder.decode(json.dumps(answer("x", 250)).encode(), FileOrigin("t", 4), "fb/1", 4)
    assert (await engine.process([other])).late == 1
