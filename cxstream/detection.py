"""Detection stage: score each closed window's KPIs of a series and explain what moved.

:class:`SeriesMonitor` keeps one :class:`~cxstream.detectors.DefaultDetector` per
(series, KPI). For every closed window of a series, :meth:`SeriesMonitor.observe`
computes the watched KPIs from the window's summed counters, scores each against its
detector *before* learning it (proportions through the counts API, so that the
window's volume is taken into account; other KPIs through the value API), then
learns it, and returns one :class:`Detection` per scored KPI, anomalous or not.

A KPI whose volume (the denominator it rests on) is below its minimum is skipped: it
is neither scored nor learned, so a quiet night of four answers neither alarms nor
teaches the detector that wild swings are normal.

For ``nps`` and ``detractor_rate`` a detection carries :class:`Evidence`: the reason
codes whose share of answers rose most above the series' baseline share of that
reason (an exponentially weighted share per code, kept for a bounded number of codes)
and the share of detractors with a known order whose order was late. The baseline
shares skip windows that the detector judges anomalous, like the detector's own
baseline, so an incident is compared with what came before it.

The state of a series (:meth:`SeriesMonitor.to_state`) is a small JSON-serialisable
dict, so a restarted monitor continues exactly where the checkpoint left it.

>>> from datetime import UTC, datetime
>>> from cxstream.windows import Window
>>> monitor = SeriesMonitor()
>>> window = Window(datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC))
>>> counters = {"responses": 400, "promoters": 200, "detractors": 80, "reason:price": 30}
>>> [(d.kpi, d.score, d.anomalous) for d in monitor.observe("country=DE", window, counters)]
[('nps', 0.0, False), ('detractor_rate', 0.0, False), ('reason_share:price', 0.0, False)]
>>> monitor.observe("country=DE", window, {"responses": 4, "detractors": 1})  # too few
[]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cxstream.detectors import DefaultDetector, DefaultDetectorConfig
from cxstream.kpis import REASON_SHARE_PREFIX, KpiValue, compute_kpis
from cxstream.series import series_dims
from cxstream.windows import Window

__all__ = [
    "Detection",
    "DetectionConfig",
    "Direction",
    "Evidence",
    "ReasonShift",
    "SeriesMonitor",
]

Direction = Literal["worse", "better"]

_REASON_COUNTER = "reason:"
_EXPLAINED_KPIS = frozenset({"nps", "detractor_rate"})
_STATE_VERSION = 1


class DetectionConfig(BaseModel):
    """What :class:`SeriesMonitor` watches and when a detection counts as anomalous.

    ``score_threshold`` defaults to 0.5. Detector scores are ``-log10(p) / decades``
    of a tail probability ``p`` calibrated on the series' own history; with the
    default 5 decades, 0.5 is ``p`` of about 3e-3, roughly one window in 300 of a
    KPI by chance (for hourly windows about once in two weeks per KPI). It also equals
    the detector's ``alarm_score``, the score from which the detector damps the
    following windows of an incident: a higher threshold would let a window that is
    not reported damp the ones after it below the threshold, hence the check below.

    >>> DetectionConfig().min_volume_for("reason_share:price")
    20
    >>> DetectionConfig(min_volume={"late_rate": 50}).min_volume_for("late_rate")
    50
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kpis: tuple[str, ...] = Field(
        ("nps", "detractor_rate", "late_rate", "exception_rate"),
        description="KPIs watched in every series (reason shares come on top)",
    )
    reason_shares: bool = Field(True, description="also watch reason_share:<code> per reason")
    max_reason_kpis: int = Field(
        8, ge=0, description="reason-share KPIs watched per series at most (first seen first)"
    )
    default_min_volume: int = Field(20, ge=0, description="minimum volume of any KPI")
    min_volume: dict[str, int] = Field(
        default_factory=dict, description="minimum volume per KPI name, over the default"
    )
    score_threshold: float = Field(0.5, ge=0, le=1, description="score that is anomalous")
    alert_on_better: bool = Field(False, description="also flag changes for the better")
    band_width: float = Field(
        3.0, gt=0, description="band half-width in typical absolute deviations"
    )
    reason_memory: float = Field(
        0.05, gt=0, le=1, description="weight of a window in the baseline reason shares"
    )
    max_reason_codes: int = Field(32, ge=1, description="reason codes kept in the baseline")
    top_reasons: int = Field(3, ge=0, description="reason shifts given as evidence")
    detector: DefaultDetectorConfig = Field(
        default_factory=DefaultDetectorConfig, description="parameters of new detectors"
    )

    @model_validator(mode="after")
    def _threshold_fits_cooldown(self) -> Self:
        det = self.detector
        if det.cooldown > 0 and self.score_threshold > det.alarm_score:
            raise ValueError(
                f"score_threshold {self.score_threshold} is above the detector's alarm_score"
                f" {det.alarm_score}: windows scoring in between would damp later windows"
                " without being reported; lower score_threshold or raise alarm_score"
            )
        return self

    def min_volume_for(self, kpi: str) -> int:
        """The minimum volume below which ``kpi`` is skipped."""
        return self.min_volume.get(kpi, self.default_min_volume)


@dataclass(frozen=True, slots=True)
class ReasonShift:
    """A reason's share of the window's answers against its baseline share."""

    code: str
    share: float
    baseline_share: float

    @property
    def rise(self) -> float:
        return self.share - self.baseline_share


@dataclass(frozen=True, slots=True)
class Evidence:
    """What moved with a change of ``nps`` or ``detractor_rate``.

    ``reasons``: the reasons whose share rose most above their baseline, largest rise
    first (only rises); ``late_detractor_share``: detractors with a late order out of
    detractors with a known order (``None`` when no detractor's order is known).
    """

    reasons: tuple[ReasonShift, ...]
    late_detractor_share: float | None


@dataclass(frozen=True, slots=True)
class Detection:
    """The verdict on one KPI of one series in one closed window.

    ``expected`` and the band come from the detector's seasonal baseline (``None``
    before it has learned anything); ``direction`` says whether the observed value is
    worse or better than expected (``None`` without an expectation); ``score`` is the
    detector's score in ``[0, 1]``, damped while an incident it already reported lasts,
    and ``p_value`` the undamped tail probability, which stays small for as long as the
    incident does.
    """

    series_id: str
    dims: Mapping[str, str]
    kpi: str
    window: Window
    observed: float
    expected: float | None
    band_low: float | None
    band_high: float | None
    volume: int
    score: float
    p_value: float
    anomalous: bool
    direction: Direction | None
    evidence: Evidence | None = None


class _ReasonBaseline:
    """Exponentially weighted share of answers per reason code, for a bounded set."""

    def __init__(self, memory: float, max_codes: int) -> None:
        self.memory = memory
        self.max_codes = max_codes
        self.n = 0
        self.shares: dict[str, float] = {}

    def shifts(self, shares: Mapping[str, float], top: int) -> tuple[ReasonShift, ...]:
        found = [
            ReasonShift(code, share, self.shares.get(code, 0.0))
            for code, share in shares.items()
            if share > self.shares.get(code, 0.0)
        ]
        found.sort(key=lambda s: (-s.rise, s.code))
        return tuple(found[:top])

    def learn(self, shares: Mapping[str, float]) -> None:
        self.n += 1
        a = max(self.memory, 1.0 / self.n)
        for code in self.shares.keys() | shares.keys():
            old = self.shares.get(code, 0.0)
            self.shares[code] = old + a * (shares.get(code, 0.0) - old)
        if len(self.shares) > self.max_codes:
            kept = sorted(self.shares.items(), key=lambda item: (-item[1], item[0]))
            self.shares = dict(sorted(kept[: self.max_codes]))

    def to_state(self) -> dict[str, Any]:
        return {"n": self.n, "shares": dict(sorted(self.shares.items()))}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.n = int(state["n"])
        self.shares = {str(k): float(v) for k, v in state["shares"].items()}


class _Series:
    """Detectors and reason baseline of one series."""

    def __init__(self, config: DetectionConfig) -> None:
        self.detectors: dict[str, DefaultDetector] = {}
        self.reasons = _ReasonBaseline(config.reason_memory, config.max_reason_codes)


def _reason_shares(counters: Mapping[str, float]) -> dict[str, float]:
    responses = counters.get("responses", 0.0)
    if responses <= 0:
        return {}
    return {
        key[len(_REASON_COUNTER) :]: value / responses
        for key, value in sorted(counters.items())
        if key.startswith(_REASON_COUNTER) and value > 0
    }


def _late_detractor_share(counters: Mapping[str, float]) -> float | None:
    linked = counters.get("detractors_linked", 0.0)
    if linked <= 0:
        return None
    return counters.get("detractors_late", 0.0) / linked


class SeriesMonitor:
    """Per-series, per-KPI detectors that turn closed windows into :class:`Detection`.

    Feed each series its windows in event-time order. ``to_state``/``from_state``
    checkpoint one series; a series that was never observed or restored starts fresh.
    """

    def __init__(self, config: DetectionConfig | None = None) -> None:
        self.config = config if config is not None else DetectionConfig()
        self._series: dict[str, _Series] = {}

    @property
    def series_ids(self) -> list[str]:
        """The series this monitor holds state for, sorted."""
        return sorted(self._series)

    def _get(self, series_id: str) -> _Series:
        series = self._series.get(series_id)
        if series is None:
            series = self._series[series_id] = _Series(self.config)
        return series

    def _kpi_names(self, series: _Series, counters: Mapping[str, float]) -> list[str]:
        names = list(self.config.kpis)
        if not self.config.reason_shares:
            return names
        watched = {n for n in series.detectors if n.startswith(REASON_SHARE_PREFIX)}
        new = sorted(
            (
                (-value, f"{REASON_SHARE_PREFIX}{key[len(_REASON_COUNTER) :]}")
                for key, value in counters.items()
                if key.startswith(_REASON_COUNTER) and value > 0
            ),
        )
        for _, name in new:
            if len(watched) >= self.config.max_reason_kpis:
                break
            watched.add(name)
        return names + sorted(watched - set(names))

    def observe(
        self, series_id: str, window: Window, counters: Mapping[str, float]
    ) -> list[Detection]:
        """Score, then learn, the watched KPIs of a closed ``window`` of ``series_id``.

        Returns one detection per KPI with a value and enough volume, in the order
        of ``config.kpis`` followed by the reason shares by code.
        """
        config = self.config
        series = self._get(series_id)
        dims = series_dims(series_id)
        t = window.start
        shares = _reason_shares(counters)
        late_share = _late_detractor_share(counters)
        out: list[Detection] = []
        protect_reasons = False
        learn_reasons = False
        for name, value in compute_kpis(counters, self._kpi_names(series, counters)).items():
            if value.volume < config.min_volume_for(name):
                continue
            detector = series.detectors.get(name)
            if detector is None:
                detector = series.detectors[name] = DefaultDetector(config.detector)
            detection, p = self._judge(series_id, dims, window, t, value, detector)
            if name in _EXPLAINED_KPIS:
                learn_reasons = True
                protect_reasons |= p < detector.config.protect_p
                evidence = Evidence(series.reasons.shifts(shares, config.top_reasons), late_share)
                detection = replace(detection, evidence=evidence)
            out.append(detection)
        if learn_reasons and not protect_reasons:
            series.reasons.learn(shares)
        return out

    def _judge(
        self,
        series_id: str,
        dims: Mapping[str, str],
        window: Window,
        t: datetime,
        value: KpiValue,
        detector: DefaultDetector,
    ) -> tuple[Detection, float]:
        config = self.config
        expected, deviation = _expectation(detector, t)
        if value.successes is not None and value.trials is not None:
            p, score = detector.observe_counts(value.successes, value.trials, t)
        else:
            p, score = detector.observe_one(value.value, t)
        direction: Direction | None = None
        low = high = None
        if expected is not None and deviation is not None:
            low = expected - config.band_width * deviation
            high = expected + config.band_width * deviation
            low, high = _clip_band(value, low, high)
            worse = value.value > expected if value.higher_is_worse else value.value < expected
            direction = "worse" if worse else "better"
        anomalous = score >= config.score_threshold and (
            direction == "worse" or (direction == "better" and config.alert_on_better)
        )
        detection = Detection(
            series_id=series_id,
            dims=dims,
            kpi=value.name,
            window=window,
            observed=value.value,
            expected=expected,
            band_low=low,
            band_high=high,
            volume=value.volume,
            score=score,
            p_value=p,
            anomalous=anomalous,
            direction=direction,
        )
        return detection, p

    # -- state -------------------------------------------------------------------------
    def to_state(self, series_id: str) -> dict[str, Any]:
        """JSON-serialisable snapshot of one series (fresh state if never observed)."""
        series = self._series.get(series_id) or _Series(self.config)
        return {
            "version": _STATE_VERSION,
            "detectors": {name: det.to_state() for name, det in sorted(series.detectors.items())},
            "reasons": series.reasons.to_state(),
        }

    def from_state(self, series_id: str, state: Mapping[str, Any]) -> None:
        """Replace the state of ``series_id`` by a :meth:`to_state` snapshot."""
        version = state.get("version")
        if version != _STATE_VERSION:
            raise ValueError(
                f"series {series_id!r}: state version {version!r} is not {_STATE_VERSION}"
            )
        series = _Series(self.config)
        series.detectors = {
            str(name): DefaultDetector.from_state(det) for name, det in state["detectors"].items()
        }
        series.reasons.restore(state["reasons"])
        self._series[series_id] = series

    def forget(self, series_id: str) -> None:
        """Drop the state of ``series_id`` (it starts fresh if observed again)."""
        self._series.pop(series_id, None)


def _clip_band(value: KpiValue, low: float, high: float) -> tuple[float, float]:
    """Keep a band inside the values the KPI can take."""
    kpi = value.kpi
    if kpi.name == "nps":
        return max(-100.0, low), min(100.0, high)
    if kpi.proportion:
        return max(0.0, low), min(1.0, high)
    return max(0.0, low), high  # every other KPI is a non-negative ratio


def _expectation(detector: DefaultDetector, t: datetime) -> tuple[float | None, float | None]:
    """Expected value at ``t`` and typical absolute deviation, from the seasonal baseline."""
    found = detector.expectation(t)
    return (None, None) if found is None else found
