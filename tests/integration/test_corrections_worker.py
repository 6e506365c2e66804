"""A worker reports an answer that arrives after its window was judged on ``cx.corrections``.

Answers for Germany every 2 minutes from 08:00 to 12:00 go to a real broker; a real
worker consumes them, and once its input is idle the watermark passes 12:00 and the
hourly windows up to 11:00 are judged. Then a detractor's answer from 09:10 arrives.
The worker counts it and publishes how it changed the 09:00-10:00 window's NPS: the
correction a replay reports when its reorder buffer hands it the answer that late.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cxstream.producing import produce_files
from cxstream.worker_process import WorkerProcess
from tests.integration.topics import read_json_values
from tests.integration.worker_settings import worker_test_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def answer(event_id: str, minutes: int, score: int = 9) -> dict[str, Any]:
    return {
        "kind": "feedback",
        "event_id": event_id,
        "ts": (T0 + timedelta(minutes=minutes)).isoformat(),
        "customer_id": f"c-{event_id}",
        "order_id": f"o-{event_id}",
        "score": score,
        "channel": "web",
        "country": "DE",
    }


def write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def has_country_nps(found: list[dict[str, Any]]) -> bool:
    return any(c["segment"] == {"country": "DE"} and c["kpi"] == "nps" for c in found)


async def test_a_late_answer_is_published_as_a_correction(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = worker_test_settings(kafka_bootstrap, redis_url, join_hold_s=1.0)
    on_time = [answer(f"a{m}", m) for m in range(0, 240, 2)]
    produced = await produce_files([write(tmp_path / "on_time.jsonl", on_time)], settings)
    assert produced.total == len(on_time)

    with WorkerProcess(settings, tmp_path) as worker:
        worker.wait_until(
            lambda s: s.get("received", 0) >= len(on_time) and s.get("windows_closed", 0) >= 3,
            120.0,
            "hourly windows judged",
        )
        late = [answer("late-1", 70, score=0)]
        await produce_files([write(tmp_path / "late.jsonl", late)], settings)
        found = await read_json_values(
            settings.broker, settings.topics.corrections, has_country_nps, wait_s=60.0
        )
        stats = worker.stats() or {}

    nps = [c for c in found if c["segment"] == {"country": "DE"} and c["kpi"] == "nps"]
    assert len(nps) == 1, found
    assert nps[0]["window_start"] == "2026-03-02T09:00:00Z"
    assert nps[0]["previous"] == pytest.approx(100.0)
    assert nps[0]["value"] == pytest.approx((30 - 1) / 31 * 100)
    assert (nps[0]["previous_volume"], nps[0]["volume"], nps[0]["late_events"]) == (30, 31, 1)
    assert stats.get("corrections_published", 0) >= 1
    assert stats.get("late_events") == 1
