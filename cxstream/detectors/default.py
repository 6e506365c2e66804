"""The default per-series detector: seasonal residual, level shift, novelty and rate.

:class:`DefaultDetector` is what the engine runs for every KPI series unless told
otherwise. It needs no per-series tuning: each component turns its evidence into
a tail probability calibrated on the series' own history, the combined tail
probability is the smallest of them (Bonferroni-corrected), and the score is
``min(1, -log10(p) / decades)``, so one alert threshold fits every series.

Components (all configurable through :class:`DefaultDetectorConfig`):

* :class:`~cxstream.detectors.seasonal.SeasonalBaseline` - residual against an
  hour-of-day / day-of-week profile with a robust spread;
* :class:`~cxstream.detectors.level_shift.LevelShiftDetector` - CUSUM of the
  seasonal residuals, for shifts smaller than the point-wise noise. Off by
  default (``level_shift=True`` to enable): shifts larger than the noise are
  already flagged for as long as they last by the protected seasonal residual,
  and on strongly autocorrelated series the CUSUM raised many false alarms;
* :class:`~cxstream.detectors.novelty.RangeNovelty` - values beyond anything seen;
* :class:`~cxstream.detectors.rate.RateDetector` - for proportions fed as counts
  (``score_counts``/``learn_counts``): a window is anomalous only if its share is
  both unusual for the series *and* significant at the window's volume.

Protection and adaptation: a point judged anomalous (combined ``p`` below
``protect_p``) is kept out of the level, the seasonal profile and the residual
calibration, so a long incident keeps its tail probability instead of becoming
normal; once a change has persisted for ``adapt_after`` observations it is
accepted as the new normal, so a real level change stops alarming. Runs of at
most ``spike_length`` anomalous points enter the calibration once they are over,
so a series that spikes now and then learns that such spikes are not rare.

Repeated detections: after a point scores at least ``alarm_score``, scores are
reported at ``cooldown_factor`` times their value until ``cooldown`` consecutive
observations have been normal. An incident therefore raises one strong signal
and is then reported as "still elevated" for as long as it lasts (its
undamped tail probability, :meth:`DefaultDetector.p_value`, stays tiny because
the baselines are protected), instead of re-alarming on every window. Set
``cooldown=0`` for undamped scores.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from cxstream.detectors.base import check_time, p_to_score
from cxstream.detectors.level_shift import LevelShiftDetector
from cxstream.detectors.novelty import RangeNovelty
from cxstream.detectors.rate import RateDetector
from cxstream.detectors.seasonal import SeasonalBaseline

__all__ = ["DefaultDetector", "DefaultDetectorConfig"]


class DefaultDetectorConfig(BaseModel):
    """Parameters of :class:`DefaultDetector`; the defaults suit any KPI series."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bins_per_day: int = Field(24, ge=1, le=288, description="hour-of-day profile resolution")
    weekly: bool = Field(True, description="learn a day-of-week profile too")
    level_rate: float = Field(0.01, gt=0, le=1, description="level learning rate per point")
    season_rate: float = Field(0.2, gt=0, le=1, description="profile share renewed per cycle")
    seasonal_gain: float = Field(0.9, gt=0, description="use profile if error below this ratio")
    protect_p: float = Field(1e-3, gt=0, lt=1, description="anomalous below this tail prob.")
    adapt_after: int = Field(200, ge=1, description="persistent points before a new normal")
    spike_length: int = Field(10, ge=0, description="anomalous runs this short calibrate")
    warmup: int = Field(20, ge=1, description="points before any score")
    level_shift: bool = Field(False, description="include the CUSUM level-shift component")
    cusum_drift: float = Field(0.5, gt=0, description="CUSUM allowance in spreads")
    novelty: bool = Field(True, description="include the value-range novelty component")
    novelty_overshoot_rate: float = Field(5.0, gt=0, description="record overshoot decay")
    rate_memory: float = Field(0.05, gt=0, le=1, description="rate baseline fade per window")
    decades: float = Field(5.0, gt=0, description="-log10 tail probability that scores 1")
    alarm_score: float = Field(0.5, ge=0, le=1, description="score that starts a cooldown")
    cooldown: int = Field(30, ge=0, description="normal points that end the damping")
    cooldown_factor: float = Field(0.3, ge=0, le=1, description="damping during cooldown")


class DefaultDetector:
    """Combined detector used by default for every KPI series.

    Parameters
    ----------
    config
        Parameters; ``DefaultDetectorConfig()`` when omitted.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> det = DefaultDetector()
    >>> t0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
    >>> for i in range(24 * 14):
    ...     t = t0 + timedelta(hours=i)
    ...     x = 30.0 + 10.0 * (t.hour >= 18) + ((i * 37) % 11) / 10
    ...     _ = det.score_one(x, t)
    ...     det.learn_one(x, t)
    >>> t = t0 + timedelta(days=14, hours=19)
    >>> det.score_one(40.5, t) < 0.3
    True
    >>> det.score_one(55.0, t) > 0.9
    True
    """

    def __init__(self, config: DefaultDetectorConfig | None = None) -> None:
        self.config = config if config is not None else DefaultDetectorConfig()
        c = self.config
        self._seasonal = SeasonalBaseline(
            bins_per_day=c.bins_per_day,
            weekly=c.weekly,
            level_rate=c.level_rate,
            season_rate=c.season_rate,
            seasonal_gain=c.seasonal_gain,
            protect_p=c.protect_p,
            adapt_after=c.adapt_after,
            spike_length=c.spike_length,
            warmup=c.warmup,
            decades=c.decades,
        )
        self._shift = LevelShiftDetector(
            drift=c.cusum_drift, warmup=c.warmup, adapt_after=c.adapt_after, decades=c.decades
        )
        self._novelty = RangeNovelty(
            overshoot_rate=c.novelty_overshoot_rate, warmup=c.warmup, decades=c.decades
        )
        self._rate = RateDetector(
            rate=c.rate_memory, protect_p=c.protect_p, warmup=c.warmup, decades=c.decades
        )
        self._n_tests = 1 + int(c.level_shift) + int(c.novelty)
        self._cooldown_left = 0

    # -- values ------------------------------------------------------------------------
    def p_value(self, x: float, t: datetime) -> float:
        """Combined tail probability of ``x`` at ``t`` (before learning it)."""
        u, p = self._seasonal.residual(x, t)
        if self.config.level_shift:
            p = min(p, self._shift.p_residual(u))
        if self.config.novelty:
            p = min(p, self._novelty.p_value(x))
        return min(1.0, p * self._n_tests)

    def expectation(self, t: datetime) -> tuple[float, float] | None:
        """Expected value at ``t`` and the typical absolute deviation around it, from the
        seasonal baseline (``None`` before it has learned anything)."""
        if self._seasonal.n == 0:
            return None
        return self._seasonal.predict(t)

    def _damp(self, score: float) -> float:
        if self._cooldown_left > 0:
            return score * self.config.cooldown_factor
        return score

    def score_one(self, x: float, t: datetime) -> float:
        """Anomaly score of ``x`` at ``t`` in ``[0, 1]``."""
        return self._damp(p_to_score(self.p_value(x, t), self.config.decades))

    def _learn_value(self, x: float, t: datetime, p: float) -> None:
        c = self.config
        anomalous = p < c.protect_p
        u, _ = self._seasonal.residual(x, t)
        self._seasonal.learn_one(x, t, anomalous=anomalous)
        if c.level_shift:
            self._shift.learn_residual(u, self._seasonal.last_mode)
        if c.novelty:
            self._novelty.learn_value(x)
        score = p_to_score(p, c.decades)
        if self._cooldown_left > 0:
            self._cooldown_left = c.cooldown if anomalous else self._cooldown_left - 1
        elif score >= c.alarm_score and c.cooldown > 0:
            self._cooldown_left = c.cooldown

    def learn_one(self, x: float, t: datetime) -> None:
        """Learn ``x`` observed at ``t``."""
        self._learn_value(x, t, self.p_value(x, t))

    # -- counts ------------------------------------------------------------------------
    def p_counts(self, successes: int, trials: int, t: datetime) -> float:
        """Combined tail probability of a window's counts: unusual *and* significant."""
        if trials <= 0:
            return 1.0
        p_value = self.p_value(successes / trials, t)
        return max(p_value, self._rate.p_counts(successes, trials))

    def score_counts(self, successes: int, trials: int, t: datetime) -> float:
        """Anomaly score in ``[0, 1]`` of ``successes`` out of ``trials`` at ``t``."""
        check_time(t)
        return self._damp(p_to_score(self.p_counts(successes, trials, t), self.config.decades))

    def learn_counts(self, successes: int, trials: int, t: datetime) -> None:
        """Learn one window's counts (a window without trials is skipped)."""
        check_time(t)
        if trials <= 0:
            return
        self._learn_counts(successes, trials, t, self.p_counts(successes, trials, t))

    def _learn_counts(self, successes: int, trials: int, t: datetime, p: float) -> None:
        anomalous = p < self.config.protect_p
        self._rate.learn_counts(successes, trials, t, anomalous=anomalous)
        self._learn_value(successes / trials, t, p)

    def observe_counts(self, successes: int, trials: int, t: datetime) -> tuple[float, float]:
        """Score, then learn, one window's counts: ``(tail probability, score)``, the same
        as :meth:`p_counts` and :meth:`score_counts` before :meth:`learn_counts`, at a
        third of the cost."""
        check_time(t)
        p = self.p_counts(successes, trials, t)
        score = self._damp(p_to_score(p, self.config.decades))
        if trials > 0:
            self._learn_counts(successes, trials, t, p)
        return p, score

    def observe_one(self, x: float, t: datetime) -> tuple[float, float]:
        """Score, then learn, ``x`` at ``t``: ``(tail probability, score)``."""
        p = self.p_value(x, t)
        score = self._damp(p_to_score(p, self.config.decades))
        self._learn_value(x, t, p)
        return p, score

    # -- state -------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot (under 4 KiB as JSON)."""
        return {
            "config": self.config.model_dump(),
            "seasonal": self._seasonal.to_state(),
            "shift": self._shift.to_state(),
            "novelty": self._novelty.to_state(),
            "rate": self._rate.to_state(),
            "cooldown": self._cooldown_left,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild from ``to_state`` output."""
        obj = cls(DefaultDetectorConfig.model_validate(state["config"]))
        obj._seasonal = SeasonalBaseline.from_state(state["seasonal"])
        obj._shift = LevelShiftDetector.from_state(state["shift"])
        obj._novelty = RangeNovelty.from_state(state["novelty"])
        obj._rate = RateDetector.from_state(state["rate"])
        obj._cooldown_left = int(state["cooldown"])
        return obj
