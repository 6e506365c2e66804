"""Alert lifecycle: fire on a new condition, stay while it holds, resolve when it is over."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from cxstream.alerting import AlertCondition, AlertingConfig, AlertTracker
from cxstream.windows import Window

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _window(i: int) -> Window:
    return Window(T0 + timedelta(hours=i), T0 + timedelta(hours=i + 1))


def _condition(i: int, *, new: bool = True, raw: float = 1.0) -> AlertCondition:
    return AlertCondition(
        dims={"country": "DE", "channel": "app"},
        kpi="detractor_rate",
        window=_window(i),
        value=0.6,
        expected=0.15,
        score=raw if new else raw * 0.3,
        raw_score=raw,
        new=new,
        volume=40,
    )


def _run(tracker: AlertTracker, steps: list[AlertCondition | None]) -> list[tuple[int, str]]:
    out = []
    for i, c in enumerate(steps):
        conditions = {c.key: c} if c is not None else {}
        for record in tracker.update(_window(i), conditions):
            out.append((i, record.status))
    return out


def test_fires_once_stays_while_the_incident_lasts_and_resolves_after_quiet_windows() -> None:
    tracker = AlertTracker("kpi", AlertingConfig(resolve_after=2))
    steps = [_condition(0), _condition(1, new=False), _condition(2, new=False), None, None, None]
    assert _run(tracker, steps) == [(0, "firing"), (4, "resolved")]


def test_a_damped_condition_does_not_start_an_alert() -> None:
    tracker = AlertTracker("kpi")
    assert _run(tracker, [_condition(0, new=False), None]) == []


def test_firing_and_resolved_lines_share_a_deterministic_id() -> None:
    records = []
    for _ in range(2):
        tracker = AlertTracker("kpi", AlertingConfig(resolve_after=1))
        records.append(tracker.update(_window(0), {_condition(0).key: _condition(0)}))
        records[-1] += tracker.update(_window(1), {})
    first, second = records
    assert [r.alert_id for r in first] == [r.alert_id for r in second]
    assert first[0].alert_id == first[1].alert_id
    assert [r.status for r in first] == ["firing", "resolved"]
    assert first[1].at == _window(1).end


def test_windows_too_thin_to_judge_neither_keep_nor_resolve_an_alert() -> None:
    tracker = AlertTracker("kpi", AlertingConfig(resolve_after=1, max_unjudged=3))
    c = _condition(0)
    assert [r.status for r in tracker.update(_window(0), {c.key: c})] == ["firing"]
    assert tracker.update(_window(1), {}, scored=set()) == []
    assert tracker.update(_window(2), {}, scored=set()) == []
    assert [r.status for r in tracker.update(_window(3), {}, scored=set())] == ["resolved"]


def test_severity_follows_the_undamped_score() -> None:
    tracker = AlertTracker("kpi", AlertingConfig(critical_score=1.0))
    c = _condition(0, raw=0.95)
    (record,) = tracker.update(_window(0), {c.key: c})
    assert record.severity == "warning"
    c2 = dataclasses.replace(c, dims={"country": "FR"}, raw_score=1.0)
    (record,) = tracker.update(_window(1), {c2.key: c2, c.key: c})
    assert record.severity == "critical"


def test_state_round_trip_continues_the_same_alert() -> None:
    tracker = AlertTracker("kpi", AlertingConfig(resolve_after=2))
    (fired,) = tracker.update(_window(0), {_condition(0).key: _condition(0)})
    restored = AlertTracker("kpi", AlertingConfig(resolve_after=2))
    restored.restore(tracker.to_state())
    assert restored.update(_window(1), {}) == []
    (resolved,) = restored.update(_window(2), {})
    assert resolved.alert_id == fired.alert_id
    assert resolved.status == "resolved"
