"""The detection stage resumes from its checkpoint exactly where it stopped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cxstream import detect_stage
from cxstream.checkpoints import MemoryCheckpointStore, owner_of
from cxstream.config import Settings
from cxstream.decoding import EventDecoder
from cxstream.detection_setup import detection_stage, load_rule_set
from cxstream.engine import Engine, EngineOptions
from cxstream.generator import GeneratorConfig, generate_events, write_jsonl
from cxstream.generator.incidents import CarrierDelayIncident
from cxstream.memory_store import MemoryStateStore
from cxstream.replay import Replayer

pytestmark = pytest.mark.slow

LATE_CARRIER_RULE = """
rules:
  - type: kpi_alert
    name: carrier-late
    kpi: late_rate
    windows: [1h]
    group_by: [[country, carrier]]
    threshold: {type: fixed, above: 0.5}
    min_volume: 5
route:
  receiver: logistics
receivers:
  - name: logistics
    configs:
      - type: slack
        channel: "#logistics-alerts"
        send_resolved: true
"""
SPLIT = datetime(2026, 3, 3, 13, 7, tzinfo=UTC)


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("stream")
    incident = CarrierDelayIncident(
        country="FR",
        carrier="colissimo",
        start=datetime(2026, 3, 3, 10, tzinfo=UTC),
        end=datetime(2026, 3, 4, tzinfo=UTC),
    )
    config = GeneratorConfig(days=2, seed=5, orders_per_day=3000, incidents=(incident,))
    events = list(generate_events(config))
    before = [e for e in events if datetime.fromisoformat(e["ts"]) < SPLIT]
    after = [e for e in events if datetime.fromisoformat(e["ts"]) >= SPLIT]
    paths = tmp / "all.jsonl", tmp / "before.jsonl", tmp / "after.jsonl"
    for path, part in zip(paths, (events, before, after), strict=True):
        write_jsonl(part, path)
    return paths


async def _replay(
    files: list[Path],
    out: Path,
    store: MemoryStateStore,
    checkpoints: MemoryCheckpointStore,
    settings: Settings | None = None,
) -> list[str]:
    settings = settings or Settings()
    replayer = Replayer(
        Engine(store, EngineOptions.from_settings(settings)),
        EventDecoder(),
        stage=detection_stage(settings, store, checkpoints, load_rule_set(settings)),
    )
    await replayer.run(files, out)
    return (out / "alerts.jsonl").read_text().splitlines()


async def test_a_restarted_stage_continues_from_its_checkpoint_like_an_uninterrupted_one(
    stream: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    whole, before, after = stream
    store, checkpoints = MemoryStateStore(), MemoryCheckpointStore()
    uninterrupted = await _replay([whole], tmp_path / "a", store, checkpoints)

    store2, checkpoints2 = MemoryStateStore(), MemoryCheckpointStore()
    first = await _replay([before], tmp_path / "b1", store2, checkpoints2)
    second = await _replay([after], tmp_path / "b2", store2, checkpoints2)

    assert first + second == uninterrupted
    assert len(checkpoints.data) > 1
    assert any("|s|" in field for owner in checkpoints.data.values() for field in owner)
    assert checkpoints2.data == checkpoints.data


def test_checkpoints_stay_small(stream: tuple[Path, Path, Path], tmp_path: Path) -> None:
    import asyncio

    store, checkpoints = MemoryStateStore(), MemoryCheckpointStore()
    asyncio.run(_replay([stream[0]], tmp_path, store, checkpoints))
    fields = {k: v for owner in checkpoints.data.values() for k, v in owner.items()}
    per_series = [len(v) for k, v in fields.items() if "|s|" in k]
    assert per_series
    kpis = [len(json.loads(v)["detectors"]) for k, v in fields.items() if "|s|" in k]
    assert max(size / max(1, n) for size, n in zip(per_series, kpis, strict=True)) < 4096


def test_a_country_and_its_sub_segments_share_an_owner() -> None:
    de = owner_of({"country": "DE"}, 8)
    assert owner_of({"country": "DE", "carrier": "dhl"}, 8) == de
    assert owner_of({"country": "DE", "channel": "app", "segment": "vip"}, 8) == de


async def test_a_far_jump_of_event_time_judges_like_judging_every_window(
    stream: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One answer 60 days after the stream (an implausible clock, or a long pause): the
    # watermark closes 1,440 hourly windows at once.
    lines = stream[0].read_text().splitlines()
    last = max(json.loads(line)["ts"] for line in lines)
    jumped = json.loads(next(line for line in lines if '"feedback"' in line))
    jumped["event_id"] = "after-a-long-pause"
    jumped["ts"] = (datetime.fromisoformat(last) + timedelta(days=60)).isoformat()
    path = tmp_path / "jump.jsonl"
    path.write_text("\n".join([*lines, json.dumps(jumped)]) + "\n")

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "late.yaml").write_text(LATE_CARRIER_RULE)
    settings = Settings(rules_dir=rules)
    skipping = await _replay(
        [path], tmp_path / "a", MemoryStateStore(), MemoryCheckpointStore(), settings
    )
    monkeypatch.setattr(detect_stage, "MAX_WINDOWS_JUDGED_AT_ONCE", 10**6)
    every = await _replay(
        [path], tmp_path / "b", MemoryStateStore(), MemoryCheckpointStore(), settings
    )

    assert skipping == every
    statuses = [json.loads(line)["status"] for line in skipping]
    assert "firing" in statuses
    # What was firing is resolved by the empty windows of the pause, as when all are judged.
    assert statuses.count("resolved") == statuses.count("firing")
