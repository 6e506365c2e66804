"""Tests of the detection stage: scoring closed windows of a series and explaining changes."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from cxstream.detection import Detection, DetectionConfig, SeriesMonitor
from cxstream.windows import Window

T0 = datetime(2026, 3, 2, tzinfo=UTC)
SERIES = "country=DE,channel=app"
NORMAL_REASONS = {
    "delivery_late": 0.4,
    "price": 0.2,
    "product_quality": 0.25,
    "app_scan_failed": 0.05,
    "support": 0.1,
}
INCIDENT_REASONS = {
    "delivery_late": 0.25,
    "price": 0.12,
    "product_quality": 0.15,
    "app_scan_failed": 0.42,
    "support": 0.06,
}
STEP_START, STEP_LENGTH = 200, 6


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(rng.random() < p for _ in range(n))


def _window(i: int) -> Window:
    return Window(T0 + timedelta(hours=i), T0 + timedelta(hours=i + 1))


def _counters(
    rng: random.Random,
    detractor_share: float = 0.2,
    reasons: dict[str, float] = NORMAL_REASONS,
    responses: int = 400,
) -> dict[str, float]:
    detractors = _binomial(rng, responses, detractor_share)
    counters: dict[str, float] = {
        "responses": responses,
        "detractors": detractors,
        "promoters": _binomial(rng, responses - detractors, 0.55),
    }
    for code in rng.choices(list(reasons), list(reasons.values()), k=detractors):
        counters[f"reason:{code}"] = counters.get(f"reason:{code}", 0) + 1
    linked = _binomial(rng, detractors, 0.8)
    counters["detractors_linked"] = linked
    counters["detractors_late"] = _binomial(rng, linked, 0.15)
    counters["delivered"] = 300
    counters["delivered_late"] = _binomial(rng, 300, 0.05)
    counters["shipped"] = 300
    counters["exceptions"] = _binomial(rng, 300, 0.03)
    return counters


def _stream(seed: int, n: int, step: bool = False) -> list[dict[str, float]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if step and STEP_START <= i < STEP_START + STEP_LENGTH:
            out.append(_counters(rng, 0.35, INCIDENT_REASONS))
        else:
            out.append(_counters(rng))
    return out


def _run(
    monitor: SeriesMonitor, stream: list[dict[str, float]], first: int = 0
) -> list[list[Detection]]:
    return [
        monitor.observe(SERIES, _window(first + i), counters) for i, counters in enumerate(stream)
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_stable_series_raises_no_alarm_after_warm_up(seed: int) -> None:
    results = _run(SeriesMonitor(), _stream(seed, 24 * 8))
    after_warm_up = [d for window in results[48:] for d in window]
    assert {d.kpi for d in after_warm_up} >= {
        "nps",
        "detractor_rate",
        "late_rate",
        "exception_rate",
        "reason_share:app_scan_failed",
    }
    assert [d for d in after_warm_up if d.anomalous] == []
    last = {d.kpi: d for d in results[-1]}["detractor_rate"]
    assert last.expected is not None
    assert last.band_low is not None
    assert last.band_high is not None
    assert last.band_low < 0.2 < last.band_high
    assert abs(last.expected - 0.2) < 0.03
    assert last.dims == {"country": "DE", "channel": "app"}
    assert last.volume == 400


def test_step_change_is_flagged_worse_with_evidence() -> None:
    results = _run(SeriesMonitor(), _stream(7, STEP_START + STEP_LENGTH + 2, step=True))
    assert [d for window in results[48:STEP_START] for d in window if d.anomalous] == []
    step = results[STEP_START : STEP_START + 2]
    flagged = [d for window in step for d in window if d.anomalous]
    kpis = {d.kpi for d in flagged}
    assert {"detractor_rate", "nps"} & kpis
    for d in flagged:
        assert d.direction == "worse"
    rate = next(d for d in flagged if d.kpi in ("detractor_rate", "nps"))
    assert rate.evidence is not None
    reasons = rate.evidence.reasons
    assert 1 <= len(reasons) <= 3
    assert reasons[0].code == "app_scan_failed"
    assert reasons[0].share > 0.1 > reasons[0].baseline_share
    assert all(a.rise >= b.rise for a, b in itertools.pairwise(reasons))
    assert rate.evidence.late_detractor_share is not None
    assert 0.0 <= rate.evidence.late_detractor_share <= 0.5
    # the incident stays visible through the undamped tail probability
    during = [d for window in results[STEP_START : STEP_START + STEP_LENGTH] for d in window]
    assert all(d.p_value < 1e-3 for d in during if d.kpi == "reason_share:app_scan_failed")
    # and the reason baseline was kept clear of the incident
    later = {d.kpi: d for d in results[STEP_START + STEP_LENGTH - 1]}["detractor_rate"]
    assert later.evidence is not None
    assert later.evidence.reasons[0].code == "app_scan_failed"
    assert later.evidence.reasons[0].baseline_share < 0.1


def test_low_volume_series_does_not_alarm() -> None:
    monitor = SeriesMonitor()
    stable = _stream(3, 60)
    _run(monitor, stable)
    tiny = {"responses": 4, "detractors": 1, "promoters": 1, "reason:app_scan_failed": 1}
    assert monitor.observe(SERIES, _window(60), tiny) == []
    # even when scored (no minimum volume), the counts keep 4 answers from alarming
    lenient = SeriesMonitor(DetectionConfig(default_min_volume=1))
    _run(lenient, stable)
    detections = lenient.observe(SERIES, _window(60), tiny)
    assert {d.kpi for d in detections} >= {"detractor_rate", "reason_share:app_scan_failed"}
    assert not any(d.anomalous for d in detections if d.kpi != "nps")


def test_min_volume_skips_and_learns_nothing() -> None:
    config = DetectionConfig(min_volume={"late_rate": 500})
    monitor = SeriesMonitor(config)
    reference = SeriesMonitor(config)
    stream = _stream(4, 30)
    results = _run(monitor, stream)
    assert all("late_rate" not in {d.kpi for d in window} for window in results)
    assert "late_rate" not in monitor.to_state(SERIES)["detectors"]
    # a window below every minimum changes nothing
    _run(reference, stream)
    before = json.dumps(monitor.to_state(SERIES))
    assert monitor.observe(SERIES, _window(30), {"responses": 5, "detractors": 5}) == []
    assert json.dumps(monitor.to_state(SERIES)) == before == json.dumps(reference.to_state(SERIES))


def test_checkpoint_and_restore_continue_identically() -> None:
    stream = _stream(5, 300, step=True)
    uninterrupted = _run(SeriesMonitor(), stream)
    first = SeriesMonitor()
    _run(first, stream[:150])
    saved = json.dumps(first.to_state(SERIES))
    restored = SeriesMonitor()
    restored.from_state(SERIES, json.loads(saved))
    assert restored.series_ids == [SERIES]
    resumed = _run(restored, stream[150:], first=150)
    assert resumed == uninterrupted[150:]
    assert any(d.anomalous for window in resumed for d in window)


def test_state_of_six_kpis_is_small() -> None:
    config = DetectionConfig(max_reason_kpis=2)
    monitor = SeriesMonitor(config)
    results = _run(monitor, _stream(6, 200))
    assert len({d.kpi for d in results[-1]}) == 6
    state = monitor.to_state(SERIES)
    assert len(state["detectors"]) == 6
    size = len(json.dumps(state))
    assert size < 24 * 1024, size  # about 3.5 KiB per detector


def test_state_version_and_config_are_checked() -> None:
    with pytest.raises(ValueError, match="state version"):
        SeriesMonitor().from_state(SERIES, {"version": 0})
    with pytest.raises(ValidationError, match="alarm_score"):
        DetectionConfig(score_threshold=0.8)
    with pytest.raises(ValidationError):
        DetectionConfig(unknown=1)  # type: ignore[call-arg]


def test_better_direction_only_alerts_when_asked() -> None:
    stream = _stream(8, 120)
    good = {**stream[-1], "detractors": 20, "promoters": 300}
    for alert_on_better, expected in ((False, False), (True, True)):
        monitor = SeriesMonitor(DetectionConfig(alert_on_better=alert_on_better))
        _run(monitor, stream[:-1])
        detection = {d.kpi: d for d in monitor.observe(SERIES, _window(119), good)}["nps"]
        assert detection.direction == "better"
        assert detection.score >= 0.5
        assert detection.anomalous is expected
