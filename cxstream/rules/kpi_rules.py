"""KPI alert rules (``type: kpi_alert``): which KPI to watch, where, how to judge it.

A rule names one KPI (``nps``, ``late_rate``, ``reason_share:app_scan_failed``, ...),
the window sizes it is computed over, the segment levels it is watched at
(``group_by``, e.g. ``[[country], [country, carrier]]``), how a window is judged
(the default anomaly detector, or a fixed threshold), local expectations with
green/yellow/red boundaries per country or segment, the minimum volume, how a
detector score maps to a severity, extra labels and optionally a receiver.

>>> rule = KpiAlertRule.model_validate({
...     "type": "kpi_alert", "name": "refund-days", "kpi": "refund_days", "windows": ["1d"],
...     "expectations": [{"match": {"country": "DE"}, "target": 5, "yellow_at": 6, "red_at": 8}],
... })
>>> rule.expectation_status({"country": "DE"}, 6.5), rule.expectation_status({"country": "FR"}, 9)
('yellow', None)
>>> rule.severity_for(0.95), rule.severity_for(1.0)
('warning', 'critical')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from cxstream.alerting import AlertingConfig
from cxstream.config import DIMENSIONS, Dimension
from cxstream.detection import DetectionConfig
from cxstream.detectors import DefaultDetectorConfig
from cxstream.kpis import Kpi, parse_kpi
from cxstream.records import Severity
from cxstream.rules.base import CountryCode, Duration, LabelName, Name, RulesModel
from cxstream.windows import WindowSpec

__all__ = [
    "RESERVED_LABELS",
    "DetectorSettings",
    "Expectation",
    "ExpectationMatch",
    "ExpectationStatus",
    "FixedThreshold",
    "KpiAlertRule",
    "SeverityLevels",
    "level_label",
]

ExpectationStatus = Literal["green", "yellow", "red"]

#: Labels every alert gets from its record; rule ``labels`` cannot set them.
RESERVED_LABELS: frozenset[str] = frozenset({"rule", "kpi", "severity", "level", *DIMENSIONS})


def level_label(dims: Mapping[str, str] | tuple[str, ...]) -> str:
    """The ``level`` label of a segment: its dimensions joined by ``+`` (``all`` for none).

    >>> level_label({"country": "FR", "carrier": "dpd"}), level_label(())
    ('country+carrier', 'all')
    """
    names = [d for d in DIMENSIONS if d in dims]
    return "+".join(names) if names else "all"


class DetectorSettings(RulesModel):
    """Judge windows with the default anomaly detector (seasonal baseline, volume-aware)."""

    type: Literal["default"] = "default"
    score_threshold: float = Field(
        0.5, ge=0, le=1, description="detector score from which a window alerts"
    )
    alert_on_better: bool = Field(False, description="also alert on changes for the better")
    band_width: float = Field(
        3.0, gt=0, description="width of the expected band, in typical absolute deviations"
    )
    fire_score: float = Field(
        0.9,
        ge=0,
        le=1,
        description="undamped detector score a new alert needs (stricter than score_threshold,"
        " which keeps it firing: every segment is tested in every window)",
    )
    min_excess_events: float = Field(
        6.0, ge=0, description="for rates: events beyond the expected count a new alert needs"
    )
    resolve_after: int = Field(
        2, ge=1, description="consecutive normal windows that resolve an alert"
    )


class FixedThreshold(RulesModel):
    """Judge windows against fixed limits: alert when the value is above ``above`` or
    below ``below``."""

    type: Literal["fixed"] = "fixed"
    above: float | None = Field(None, description="alert when the value is above this")
    below: float | None = Field(None, description="alert when the value is below this")

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if self.above is None and self.below is None:
            raise ValueError("a fixed threshold needs 'above', 'below' or both")
        if self.above is not None and self.below is not None and self.below > self.above:
            raise ValueError(f"'below' ({self.below}) is greater than 'above' ({self.above})")
        return self

    def breached(self, value: float) -> bool:
        """Whether ``value`` is outside the limits."""
        return (self.above is not None and value > self.above) or (
            self.below is not None and value < self.below
        )


class SeverityLevels(RulesModel):
    """Detector score from which an alert is a warning, and from which it is critical
    (below ``warning``: info)."""

    warning: float = Field(0.9, ge=0, le=1, description="score from which severity is warning")
    critical: float = Field(1.0, ge=0, le=1, description="score from which severity is critical")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.critical < self.warning:
            raise ValueError(
                f"critical ({self.critical}) must not be below warning ({self.warning})"
            )
        return self

    def for_score(self, score: float) -> Severity:
        if score >= self.critical:
            return "critical"
        if score >= self.warning:
            return "warning"
        return "info"


class ExpectationMatch(RulesModel):
    """Which segments an expectation is for: every given dimension must be equal."""

    country: CountryCode | None = None
    region: str | None = None
    channel: str | None = None
    segment: str | None = None
    carrier: str | None = None

    def dims(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}

    def matches(self, dims: Mapping[str, str]) -> bool:
        return all(dims.get(k) == v for k, v in self.dims().items())


class Expectation(RulesModel):
    """A local target with yellow and red boundaries. Whether higher is worse comes from
    the KPI: for ``nps`` yellow_at/red_at are below the target, for rates above it.
    Either give ``yellow_at`` and ``red_at``, or a ``tolerance`` (yellow one tolerance
    from the target, red two)."""

    match: ExpectationMatch = Field(
        default_factory=ExpectationMatch,
        description="segments it applies to, e.g. {country: NL, segment: vip}; empty: all",
    )
    target: float = Field(description="the value aimed for")
    yellow_at: float | None = Field(None, description="from here on the value is yellow")
    red_at: float | None = Field(None, description="from here on the value is red")
    tolerance: float | None = Field(
        None, gt=0, description="yellow one tolerance worse than target, red two"
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        explicit = self.yellow_at is not None or self.red_at is not None
        if self.tolerance is not None and explicit:
            raise ValueError("give either 'tolerance' or 'yellow_at' and 'red_at', not both")
        if self.tolerance is None and (self.yellow_at is None or self.red_at is None):
            raise ValueError("an expectation needs 'yellow_at' and 'red_at', or a 'tolerance'")
        return self

    def boundaries(self, higher_is_worse: bool) -> tuple[float, float]:
        """``(yellow_at, red_at)`` for a KPI of this direction."""
        if self.tolerance is not None:
            sign = 1.0 if higher_is_worse else -1.0
            return self.target + sign * self.tolerance, self.target + 2 * sign * self.tolerance
        assert self.yellow_at is not None
        assert self.red_at is not None
        return self.yellow_at, self.red_at

    def status(self, value: float, higher_is_worse: bool) -> ExpectationStatus:
        """Green, yellow (at or beyond ``yellow_at``) or red (at or beyond ``red_at``)."""
        yellow, red = self.boundaries(higher_is_worse)
        sign = 1.0 if higher_is_worse else -1.0
        if sign * value >= sign * red:
            return "red"
        if sign * value >= sign * yellow:
            return "yellow"
        return "green"


class KpiAlertRule(RulesModel):
    """Alert when a KPI of a watched segment moves (detector) or crosses a limit."""

    type: Literal["kpi_alert"]
    name: Name = Field(description="unique rule name; the alerts' 'rule' label")
    description: str = Field("", description="what the rule is for, shown in notifications")
    kpi: str = Field(description="KPI to watch, e.g. nps, late_rate, reason_share:app_crash")
    windows: tuple[Duration, ...] = Field(
        (timedelta(hours=1),), min_length=1, description="window sizes, e.g. [1h, 1d]"
    )
    group_by: tuple[tuple[Dimension, ...], ...] = Field(
        (("country",),),
        min_length=1,
        description="segment levels watched, e.g. [[country], [country, carrier]]; [] whole shop",
    )
    detector: DetectorSettings | None = Field(
        None, description="judge with the anomaly detector (the default)"
    )
    threshold: FixedThreshold | None = Field(None, description="judge against fixed limits")
    expectations: tuple[Expectation, ...] = Field(
        (), description="local targets with green/yellow/red boundaries"
    )
    min_volume: int = Field(20, ge=0, description="windows with less volume are not judged")
    severity: SeverityLevels = Field(
        default_factory=SeverityLevels, description="score from which warning/critical"
    )
    labels: dict[LabelName, str] = Field(
        default_factory=dict, description="extra labels of the alerts, for routing"
    )
    receiver: Name | None = Field(
        None, description="send to this receiver instead of the route tree's"
    )

    @field_validator("kpi")
    @classmethod
    def _known_kpi(cls, value: str) -> str:
        return parse_kpi(value).name

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        if any(w <= timedelta(0) for w in value):
            raise ValueError("a window must be longer than 0s")
        if len(set(value)) != len(value):
            raise ValueError("a window size is given twice")
        return value

    @field_validator("group_by")
    @classmethod
    def _levels(cls, value: tuple[tuple[Dimension, ...], ...]) -> tuple[tuple[Dimension, ...], ...]:
        out: list[tuple[Dimension, ...]] = []
        for level in value:
            if len(set(level)) != len(level):
                raise ValueError(f"segment level {list(level)} repeats a dimension")
            ordered = tuple(d for d in DIMENSIONS if d in level)
            if ordered in out:
                raise ValueError(f"segment level {list(ordered)} is given twice")
            out.append(ordered)
        return tuple(out)

    @field_validator("labels")
    @classmethod
    def _not_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        taken = sorted(set(value) & RESERVED_LABELS)
        if taken:
            raise ValueError(
                f"label {taken[0]!r} is set from the alert itself; reserved labels are"
                f" {', '.join(sorted(RESERVED_LABELS))}"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.detector is not None and self.threshold is not None:
            raise ValueError("give either 'detector' or 'threshold', not both")
        higher_is_worse = self.kpi_definition.higher_is_worse
        seen: list[dict[str, str]] = []
        for i, expectation in enumerate(self.expectations):
            yellow, red = expectation.boundaries(higher_is_worse)
            points = [expectation.target, yellow, red]
            if not higher_is_worse:
                points = [-p for p in points]
            if not points[0] <= points[1] <= points[2]:
                way = "above" if higher_is_worse else "below"
                raise ValueError(
                    f"expectations[{i}]: for {self.kpi} a higher value is"
                    f" {'worse' if higher_is_worse else 'better'}, so yellow_at and red_at must"
                    f" be {way} the target, red_at beyond yellow_at (got target"
                    f" {expectation.target}, yellow_at {yellow}, red_at {red})"
                )
            dims = expectation.match.dims()
            if dims in seen:
                raise ValueError(f"expectations[{i}]: another expectation has the same match")
            seen.append(dims)
        self.detection_config()
        return self

    @property
    def kpi_definition(self) -> Kpi:
        return parse_kpi(self.kpi)

    @property
    def uses_detector(self) -> bool:
        """Whether windows are judged by the anomaly detector (else by the threshold)."""
        return self.threshold is None

    def detection_config(self) -> DetectionConfig:
        """The detection stage's configuration for this rule's KPI."""
        settings = self.detector or DetectorSettings()
        base = DefaultDetectorConfig()
        detector = base.model_copy(
            update={"alarm_score": max(base.alarm_score, settings.score_threshold)}
        )
        return DetectionConfig(
            kpis=(self.kpi,),
            reason_shares=False,
            default_min_volume=self.min_volume,
            score_threshold=settings.score_threshold,
            alert_on_better=settings.alert_on_better,
            band_width=settings.band_width,
            detector=detector,
        )

    def alerting_config(self) -> AlertingConfig:
        """When this rule's detections become alerts, and how severe they are."""
        settings = self.detector or DetectorSettings()
        return AlertingConfig(
            fire_score=max(settings.fire_score, settings.score_threshold),
            min_excess_events=settings.min_excess_events,
            resolve_after=settings.resolve_after,
            warning_score=self.severity.warning,
            critical_score=self.severity.critical,
        )

    def window_specs(
        self, bucket_seconds: int, allowed_lateness: timedelta = timedelta(0)
    ) -> tuple[WindowSpec, ...]:
        """One tumbling :class:`~cxstream.windows.WindowSpec` per window size (a size
        that is not a whole number of buckets raises ``ValidationError``)."""
        return tuple(
            WindowSpec(size=w, allowed_lateness=allowed_lateness, bucket_seconds=bucket_seconds)
            for w in self.windows
        )

    def watches(self, dims: Mapping[str, str]) -> bool:
        """Whether the segment with these dimensions is at a watched level."""
        return tuple(d for d in DIMENSIONS if d in dims) in self.group_by

    def expectation_for(self, dims: Mapping[str, str]) -> Expectation | None:
        """The most specific expectation matching the segment (most dimensions; the
        first listed among equals), or ``None``."""
        best: Expectation | None = None
        for expectation in self.expectations:
            if expectation.match.matches(dims) and (
                best is None or len(expectation.match.dims()) > len(best.match.dims())
            ):
                best = expectation
        return best

    def expectation_status(self, dims: Mapping[str, str], value: float) -> ExpectationStatus | None:
        """Green/yellow/red of ``value`` for the segment, ``None`` without an expectation."""
        expectation = self.expectation_for(dims)
        if expectation is None:
            return None
        return expectation.status(value, self.kpi_definition.higher_is_worse)

    def severity_for(self, score: float) -> Severity:
        """The severity of an alert with this detector score."""
        return self.severity.for_score(score)
