"""Level-shift detection with a two-sided CUSUM on robustly standardised residuals.

A sustained shift of a few tenths of a standard deviation is invisible point by
point but obvious in the cumulative sum of residuals. :class:`LevelShiftDetector`
runs the Page-Hinkley / CUSUM recursion (as in ``river.drift.PageHinkley``) on the
residual of a robust, anomaly-protected baseline, clipped so that a single spike
cannot trigger it, and reports a graded score instead of a drift flag: the
CUSUM statistic is turned into a tail probability by a
:class:`~cxstream.detectors.calibration.TailCalibrator` learned on the series'
own history of the statistic. The recursion is implemented here (rather than
wrapping river's detector) so that the state is a handful of numbers that
serialise to JSON.

Used standalone it keeps its own baseline (exponentially weighted median and
mean absolute deviation, protected like
:class:`~cxstream.detectors.seasonal.SeasonalBaseline`); the combined detector
feeds it the seasonal residual instead through :meth:`LevelShiftDetector.p_residual`
and :meth:`LevelShiftDetector.learn_residual`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from cxstream.detectors.base import check_time, decode_floats, encode_floats, p_to_score
from cxstream.detectors.calibration import TailCalibrator
from cxstream.detectors.gate import IncidentGate, LearnMode

__all__ = ["LevelShiftDetector"]


class LevelShiftDetector:
    """Two-sided CUSUM of clipped standardised residuals, calibrated to a score.

    Parameters
    ----------
    drift
        CUSUM allowance ``k`` in units of the residual spread: shifts smaller than
        this are ignored.
    clip
        Residuals are clipped to ``[-clip, clip]`` spreads before accumulation.
    level_rate
        Learning rate of the standalone baseline, per observation.
    protect_p
        Observations with a tail probability below this are kept out of the baseline.
    adapt_after
        Number of persistently anomalous observations after which a shift is
        accepted and the CUSUM restarts.
    warmup
        Number of observations before any score is given.
    decades
        Score scale: a tail probability of ``10 ** -decades`` scores 1.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> det = LevelShiftDetector()
    >>> t0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
    >>> noise = [((i * 7919) % 101) / 50 - 1 for i in range(600)]
    >>> scores = []
    >>> for i, e in enumerate(noise):
    ...     x = 10 + e + (1.5 if i >= 500 else 0)
    ...     t = t0 + timedelta(hours=i)
    ...     scores.append(det.score_one(x, t))
    ...     det.learn_one(x, t)
    >>> max(scores[100:500]) < 0.5 < max(scores[500:])
    True
    """

    def __init__(
        self,
        drift: float = 0.5,
        clip: float = 3.0,
        level_rate: float = 0.01,
        protect_p: float = 1e-3,
        adapt_after: int = 200,
        warmup: int = 20,
        decades: float = 5.0,
    ) -> None:
        self.drift = drift
        self.clip = clip
        self.level_rate = level_rate
        self.protect_p = protect_p
        self.adapt_after = adapt_after
        self.warmup = warmup
        self.decades = decades
        self._calibrator = TailCalibrator()
        self._gate = IncidentGate(adapt_after)
        self._n = 0
        self._level = 0.0
        self._scale = 0.0
        self._up = 0.0
        self._down = 0.0
        self._nr = 0

    # -- residual interface ----------------------------------------------------------
    def _stats(self, u: float) -> tuple[float, float]:
        c = self.clip
        u = c if u > c else -c if u < -c else u
        up = self._up + u - self.drift
        down = self._down - u - self.drift
        return (up if up > 0.0 else 0.0), (down if down > 0.0 else 0.0)

    def p_residual(self, u: float) -> float:
        """Tail probability of the CUSUM statistic after a standardised residual ``u``."""
        if self._nr < self.warmup:
            return 1.0
        up, down = self._stats(u)
        return self._calibrator.survival(up if up > down else down)

    def learn_residual(self, u: float, mode: LearnMode = LearnMode.LEARN) -> None:
        """Advance the CUSUM with a standardised residual ``u``.

        ``mode`` is how the owner of the baseline learned the point: under
        ``PROTECT`` the statistic still moves (so a shift keeps accumulating) but
        is not added to the calibration; under ``ACCEPT`` the CUSUM restarts.
        """
        self._nr += 1
        up, down = self._stats(u)
        if mode is LearnMode.ACCEPT:
            self._up = self._down = 0.0
            return
        self._up, self._down = up, down
        if self._nr > self.warmup and mode is LearnMode.LEARN:
            self._calibrator.learn(up if up > down else down)

    # -- standalone interface --------------------------------------------------------
    def _residual(self, x: float) -> float:
        dev = x - self._level
        if self._scale > 0.0:
            return dev / self._scale
        return 0.0 if dev == 0.0 else (self.clip if dev > 0.0 else -self.clip)

    def score_one(self, x: float, t: datetime) -> float:
        """Anomaly score of ``x`` in ``[0, 1]``."""
        check_time(t)
        if self._n < self.warmup:
            return 0.0
        return p_to_score(self.p_residual(self._residual(x)), self.decades)

    def learn_one(self, x: float, t: datetime) -> None:
        """Learn ``x`` observed at ``t``."""
        check_time(t)
        self._n += 1
        n = self._n
        if n == 1:
            self._level = x
            return
        if n <= self.warmup:
            r = x - self._level
            self._level += r / n
            self._scale += (abs(r) - self._scale) / n
            return
        u = self._residual(x)
        anomalous = self.p_residual(u) < self.protect_p
        mode = self._gate.update(anomalous)
        self.learn_residual(u, mode)
        if mode is LearnMode.PROTECT:
            return
        r = x - self._level
        if mode is LearnMode.ACCEPT:
            self._level = x
        elif r != 0.0:
            self._level += self.level_rate * self._scale * (1.0 if r > 0.0 else -1.0)
        self._scale += self.level_rate * (abs(r) - self._scale)

    # -- state -----------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot."""
        return {
            "params": {
                "drift": self.drift,
                "clip": self.clip,
                "level_rate": self.level_rate,
                "protect_p": self.protect_p,
                "adapt_after": self.adapt_after,
                "warmup": self.warmup,
                "decades": self.decades,
            },
            "n": self._n,
            "nr": self._nr,
            "scalars": encode_floats([self._level, self._scale, self._up, self._down]),
            "calibrator": self._calibrator.to_state(),
            "gate": self._gate.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild from ``to_state`` output."""
        obj = cls(**state["params"])
        obj._n = int(state["n"])
        obj._nr = int(state["nr"])
        obj._level, obj._scale, obj._up, obj._down = decode_floats(state["scalars"])
        obj._calibrator = TailCalibrator.from_state(state["calibrator"])
        obj._gate = IncidentGate.from_state(state["gate"])
        return obj
