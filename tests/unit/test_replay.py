"""Replay merges event files in event-time order and writes what it rejected and computed.

Covers :func:`ordered_envelopes` (merge of interleaved files, a bounded reorder window
that puts a mildly shuffled file back in order, numbering in that order) and
:class:`Replayer` with a :class:`MemoryStateStore`: dead letters recorded with their
file and line, gzip input, duplicates, the figures file, and a second replay into
the same store (its own events count, the first replay's events do not count again),
and the same alerts, actions and figures whatever the batch size.
"""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cxstream.config import Settings
from cxstream.decoding import DeadLetter, EventDecoder
from cxstream.detection_setup import action_planner, detection_stage
from cxstream.engine import Engine, EngineOptions
from cxstream.generator import GeneratorConfig, generate_lines, write_jsonl
from cxstream.jsonl import LineReader
from cxstream.memory_store import MemoryStateStore
from cxstream.replay import REPLAY_STREAM, Replayer, ordered_envelopes
from cxstream.rules import load_rules

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def answer(event_id: str, minutes: int, score: int = 9, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "feedback",
        "event_id": event_id,
        "ts": (T0 + timedelta(minutes=minutes)).isoformat(),
        "customer_id": "c-1",
        "score": score,
        "channel": "web",
        "country": "DE",
        **fields,
    }


def shipment(event_id: str, minutes: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "logistics",
        "event_id": event_id,
        "ts": (T0 + timedelta(minutes=minutes)).isoformat(),
        "order_id": "o-1",
        "customer_id": "c-1",
        "type": kind,
        "country": "DE",
        **fields,
    }


def write_lines(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def merged(paths: list[Path], window: int = 50_000) -> tuple[list[Any], list[DeadLetter]]:
    dead: list[DeadLetter] = []
    envs = list(
        ordered_envelopes([LineReader(p) for p in paths], EventDecoder(), dead.append, window)
    )
    return envs, dead


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_two_files_with_interleaved_times_are_merged_by_time(tmp_path: Path) -> None:
    feedback = write_lines(tmp_path / "fb.jsonl", [answer(f"f{m}", m) for m in range(1, 60, 2)])
    logistics = write_lines(
        tmp_path / "lg.jsonl", [shipment(f"l{m}", m, "in_transit") for m in range(0, 60, 2)]
    )
    envs, dead = merged([feedback, logistics])
    assert dead == []
    assert [e.event.event_id for e in envs] == [f"f{m}" if m % 2 else f"l{m}" for m in range(60)]
    assert [e.seq for e in envs] == list(range(1, 61))
    assert {e.stream for e in envs} == {REPLAY_STREAM}


def test_equal_times_keep_file_then_line_order(tmp_path: Path) -> None:
    first = write_lines(tmp_path / "a.jsonl", [answer("a1", 5), answer("a2", 5)])
    second = write_lines(tmp_path / "b.jsonl", [answer("b1", 5), answer("b2", 0)])
    envs, _ = merged([first, second])
    assert [e.event.event_id for e in envs] == ["b2", "a1", "a2", "b1"]


def test_mildly_shuffled_file_comes_out_in_order(tmp_path: Path) -> None:
    minutes = list(range(300))
    rng = random.Random(3)
    for start in range(0, 300, 10):  # shuffle within blocks of ten
        block = minutes[start : start + 10]
        rng.shuffle(block)
        minutes[start : start + 10] = block
    path = write_lines(tmp_path / "day.jsonl", [answer(f"f{m}", m) for m in minutes])
    envs, _ = merged([path], window=20)
    times = [e.event.ts for e in envs]
    assert times == sorted(times)
    assert len(envs) == 300


def test_origin_of_each_event_is_its_file_and_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "day.jsonl", [answer("late", 50), answer("early", 10)])
    envs, _ = merged([path])
    assert [(e.event.event_id, e.origin.file, e.origin.line) for e in envs] == [
        ("early", str(path), 2),
        ("late", str(path), 1),
    ]


async def test_replay_writes_dead_letters_with_file_and_line(tmp_path: Path) -> None:
    good = answer("f1", 0)
    path = write_lines(
        tmp_path / "in.jsonl",
        [good, "{not json", "", answer("f2", 5, score=12), good],
    )
    engine = Engine(MemoryStateStore(), EngineOptions())
    result = await Replayer(engine, EventDecoder()).run([path], tmp_path / "out")
    assert (result.events_read, result.accepted, result.rejected, result.duplicates) == (
        4,
        1,
        2,
        1,
    )
    dead = read_jsonl(tmp_path / "out" / "deadletter.jsonl")
    assert [(d["file"], d["line"]) for d in dead] == [(str(path), 2), (str(path), 4)]
    assert dead[0]["raw"] == "{not json"
    assert dead[0]["error"].startswith("invalid JSON")
    assert "field 'score'" in dead[1]["error"]
    assert json.loads(dead[1]["raw"])["event_id"] == "f2"


async def test_replay_writes_figures_per_segment_and_day(tmp_path: Path) -> None:
    events: list[dict[str, Any] | str] = [
        shipment("l1", 0, "order_placed", promised_date="2026-03-03"),
        shipment("l2", 60, "shipped", carrier="dhl"),
        answer("f1", 120, score=10),
        answer("f2", 130, score=8, country="at"),
        answer("f3", 140, score=2),
        shipment("l3", 60 * 24 * 3, "delivered"),
        answer("f4", 60 * 24 * 3 + 30, score=0, order_id="o-1", reasons=["delivery_late"]),
    ]
    path = write_lines(tmp_path / "in.jsonl.gz", events)
    store = MemoryStateStore()
    options = EngineOptions(series=((), ("country",)))
    result = await Replayer(Engine(store, options), EventDecoder(), batch_size=2).run(
        [path], tmp_path / "out"
    )
    assert result.accepted == 7
    assert result.rejected == 0
    assert result.segments == 3
    assert Path(result.outputs["figures"]) == tmp_path / "out" / "figures.jsonl"
    rows = {(r["series"], r["day"]): r for r in read_jsonl(tmp_path / "out" / "figures.jsonl")}
    assert set(rows) == {
        ("all", "2026-03-02"),
        ("all", "2026-03-05"),
        ("country=AT", "2026-03-02"),
        ("country=DE", "2026-03-02"),
        ("country=DE", "2026-03-05"),
    }
    monday = rows[("all", "2026-03-02")]
    assert monday["responses"] == 3
    assert monday["nps"] == 0.0
    assert monday["segment"] == {}
    assert rows[("country=AT", "2026-03-02")]["segment"] == {"country": "AT"}
    thursday = rows[("country=DE", "2026-03-05")]
    assert thursday["deliveries"] == 1
    assert thursday["late_rate"] == 1.0
    assert thursday["counters"]["detractors_late"] == 1
    assert thursday["counters"]["reason:delivery_late"] == 1


async def test_replay_of_out_of_window_disorder_is_counted(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "in.jsonl", [answer(f"f{m}", m) for m in (10, 11, 12, 13, 1, 14)])
    engine = Engine(MemoryStateStore(), EngineOptions())
    result = await Replayer(engine, EventDecoder(), reorder_window=2).run([path], tmp_path / "out")
    assert result.out_of_order == 1
    assert result.accepted == 6


async def test_replay_reports_progress_up_to_the_total(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "in.jsonl", [answer(f"f{m}", m) for m in range(10)])
    calls: list[tuple[int, int]] = []
    engine = Engine(MemoryStateStore(), EngineOptions())
    await Replayer(engine, EventDecoder(), batch_size=3).run(
        [path], tmp_path / "out", progress=lambda done, total: calls.append((done, total))
    )
    size = path.stat().st_size
    assert calls[-1] == (size, size)
    assert all(total == size and 0 <= done <= size for done, total in calls)


async def test_second_replay_into_the_same_store_counts_its_events(tmp_path: Path) -> None:
    monday = write_lines(tmp_path / "mon.jsonl", [answer(f"m{i}", i) for i in range(10)])
    tuesday = write_lines(
        tmp_path / "tue.jsonl", [answer(f"t{i}", 60 * 24 + i, score=0) for i in range(5)]
    )
    store = MemoryStateStore()
    await Replayer(Engine(store, EngineOptions()), EventDecoder()).run([monday], tmp_path / "o1")
    second = await Replayer(Engine(store, EngineOptions()), EventDecoder()).run(
        [tuesday], tmp_path / "o2"
    )
    assert second.accepted == 5
    rows = read_jsonl(tmp_path / "o2" / "figures.jsonl")
    days = {r["day"]: r for r in rows if r["series"] == "all"}
    assert days["2026-03-02"]["responses"] == 10
    assert days.get("2026-03-03", {}).get("responses") == 5


async def test_replaying_the_same_file_again_into_the_same_store_counts_nothing(
    tmp_path: Path,
) -> None:
    path = write_lines(tmp_path / "mon.jsonl", [answer(f"m{i}", i) for i in range(10)])
    store = MemoryStateStore()
    first = await Replayer(Engine(store, EngineOptions()), EventDecoder(), batch_size=4).run(
        [path], tmp_path / "o1"
    )
    second = await Replayer(Engine(store, EngineOptions()), EventDecoder(), batch_size=3).run(
        [path], tmp_path / "o2"
    )
    assert (first.accepted, second.accepted, second.duplicates) == (10, 0, 10)
    assert read_jsonl(tmp_path / "o1" / "figures.jsonl") == read_jsonl(
        tmp_path / "o2" / "figures.jsonl"
    )


async def test_the_batch_size_changes_no_decision(tmp_path: Path) -> None:
    """A worker's batches are whatever arrived together; a replay's are ``batch_size``
    events: the alerts and actions must not depend on either."""
    path = tmp_path / "day.jsonl"
    write_jsonl(generate_lines(GeneratorConfig(days=2, seed=11, orders_per_day=1500)), path)
    settings = Settings(rules_dir=RULES_DIR)
    rules = load_rules(RULES_DIR)
    outputs = []
    for size in (37, 5000):
        store = MemoryStateStore()
        out = tmp_path / f"batches-of-{size}"
        await Replayer(
            Engine(store, EngineOptions.from_settings(settings)),
            EventDecoder(),
            batch_size=size,
            stage=detection_stage(settings, store, rule_set=rules),
            planner=action_planner(settings, store, rules),
        ).run([path], out)
        outputs.append(
            {
                name: sorted((out / f"{name}.jsonl").read_text().splitlines())
                for name in ("alerts", "actions", "figures")
            }
        )
    notices = [a for a in outputs[0]["actions"] if '"type": "delay_notice"' in a]
    assert len(notices) > 10
    assert outputs[0] == outputs[1]
