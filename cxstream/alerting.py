"""Alert lifecycle: turn per-window anomaly conditions into firing and resolved alerts.

Each closed window yields a set of *conditions*: a KPI of a segment that is
currently worse than its baseline beyond chance (see :mod:`cxstream.detection`),
already attributed to the segment that explains it (see :mod:`cxstream.drilldown`).
:class:`AlertTracker` keeps one alert per (segment, KPI):

* it **fires** on the first window whose condition is *new*: the detector's undamped
  score reached ``fire_score`` and its reported score the detection threshold (a
  window in an incident the detector already reported is damped, see
  :class:`~cxstream.detectors.DefaultDetector`, and cannot start a new alert by
  itself). ``fire_score`` is stricter than the detection threshold because every
  KPI of every watched segment is tested in every window: at the default 0.9 (a tail
  probability of about 3e-5) a few hundred series over hourly windows raise well
  under one false alarm a month, while a real incident scores far beyond it;
* it stays firing while the condition holds (undamped score at least the detection
  threshold): the tail probability stays small for as long as an incident lasts,
  because the baselines are protected;
* it **resolves** after ``resolve_after`` consecutive windows without the condition.

Alert ids are deterministic (rule, segment, KPI and the window that started it), so
replaying the same events gives the same ids, and a stage that restarts from a
checkpoint re-emits exactly the lines it may have lost. Times are event times: a
firing line's ``at`` is the end of the window that started it, a resolved line's
the end of the window that ended it.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cxstream.records import AlertRecord, Severity, alert_id
from cxstream.series import series_id
from cxstream.windows import Window

__all__ = ["AlertCondition", "AlertTracker", "AlertingConfig"]


class AlertingConfig(BaseModel):
    """When a condition becomes an alert, how bad it is, and when it is over."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fire_score: float = Field(
        0.9,
        ge=0,
        le=1,
        description="undamped detector score a new alert needs (a stricter bar than the"
        " detection threshold that keeps it firing: hundreds of series are watched)",
    )
    min_excess_events: float = Field(
        6.0,
        ge=0,
        description="for rates: events beyond the expected count a new alert needs (a few"
        " extra exceptions or late parcels in a quiet hour are never worth an alert)",
    )
    resolve_after: int = Field(
        2, ge=1, description="consecutive windows without the condition that resolve an alert"
    )
    max_unjudged: int = Field(
        24,
        ge=1,
        description="windows in a row too thin to judge after which they count as normal",
    )
    warning_score: float = Field(
        0.5, ge=0, le=1, description="undamped detector score from which an alert is a warning"
    )
    critical_score: float = Field(
        1.0, ge=0, le=1, description="undamped detector score from which an alert is critical"
    )
    drilldown: bool = Field(True, description="name the sub-segment that explains a deviation")
    min_deviation_share: float = Field(
        0.5, gt=0, le=1, description="share of a deviation a sub-segment must carry to explain it"
    )
    min_gain: float = Field(
        0.2, ge=0, le=1, description="how much its deviation share must exceed its volume share"
    )


@dataclass(frozen=True, slots=True)
class AlertCondition:
    """One KPI of one segment anomalous in one window."""

    dims: Mapping[str, str]
    kpi: str
    window: Window
    value: float
    expected: float | None
    score: float
    raw_score: float
    new: bool
    band_low: float | None = None
    band_high: float | None = None
    volume: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{series_id(self.dims)}|{self.kpi}"


class AlertTracker:
    """Active alerts of one rule and window size; a small JSON-serialisable state."""

    def __init__(self, rule: str, config: AlertingConfig | None = None) -> None:
        self.rule = rule
        self.config = config if config is not None else AlertingConfig()
        self.active: dict[str, dict[str, Any]] = {}

    def _severity(self, condition: AlertCondition) -> Severity:
        if condition.raw_score >= self.config.critical_score:
            return "critical"
        return "warning" if condition.raw_score >= self.config.warning_score else "info"

    def _record(
        self, state: Mapping[str, Any], status: str, at: datetime, c: AlertCondition | None
    ) -> AlertRecord:
        body: dict[str, Any] = {
            "alert_id": state["id"],
            "rule": self.rule,
            "status": status,
            "at": at,
            "kpi": state["kpi"],
            "segment": state["segment"],
        }
        if c is not None:
            body.update(
                value=c.value,
                expected=c.expected,
                score=round(min(1.0, max(0.0, c.score)), 6),
                severity=self._severity(c),
                window_start=c.window.start,
                window_end=c.window.end,
                band_low=c.band_low,
                band_high=c.band_high,
                volume=c.volume,
                evidence=c.evidence or None,
            )
        else:
            body.update(
                value=state.get("value"),
                expected=state.get("expected"),
                score=0.0,
                severity=state.get("severity", "warning"),
            )
        return AlertRecord.model_validate(body)

    def update(
        self,
        window: Window,
        conditions: Mapping[str, AlertCondition],
        scored: Set[str] | None = None,
    ) -> list[AlertRecord]:
        """Fold in the conditions of one closed window (keyed by :attr:`AlertCondition.key`);
        returns the alert state changes, firing ones first, each group sorted by key.

        ``scored``: the keys that had enough volume to be judged in this window (default:
        all). A window that could not judge an alert's KPI neither keeps it firing nor
        counts toward resolving it, unless ``max_unjudged`` such windows follow in a row.
        """
        fired: list[AlertRecord] = []
        resolved: list[AlertRecord] = []
        for key in sorted(conditions):
            c = conditions[key]
            state = self.active.get(key)
            if state is None:
                if not c.new:
                    continue
                state = self.active[key] = {
                    "id": alert_id(self.rule, series_id(c.dims), c.kpi, c.window.start),
                    "kpi": c.kpi,
                    "segment": dict(c.dims),
                    "quiet": 0,
                }
                fired.append(self._record(state, "firing", window.end, c))
            state["quiet"] = state["unjudged"] = 0
            state.update(value=c.value, expected=c.expected, severity=self._severity(c))
        for key in sorted(self.active.keys() - conditions.keys()):
            state = self.active[key]
            if scored is not None and key not in scored:
                state["unjudged"] = state.get("unjudged", 0) + 1
                if state["unjudged"] < self.config.max_unjudged:
                    continue
            state["unjudged"] = 0
            state["quiet"] += 1
            if state["quiet"] >= self.config.resolve_after:
                resolved.append(self._record(state, "resolved", window.end, None))
                del self.active[key]
        return fired + resolved

    def to_state(self) -> dict[str, Any]:
        return {"active": {k: dict(v) for k, v in sorted(self.active.items())}}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.active = {str(k): dict(v) for k, v in state.get("active", {}).items()}
