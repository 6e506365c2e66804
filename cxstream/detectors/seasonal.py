"""Robust seasonal baseline: hour-of-day and day-of-week profile learned online.

CX KPIs have strong daily and weekly rhythms (evening peaks of survey answers,
weekend deliveries). :class:`SeasonalBaseline` predicts each observation as

    level + hour_of_day_offset[bin] + day_of_week_offset[weekday]

where the level is an exponentially weighted median (sign-gradient updates scaled
by the current spread) and the offsets are exponentially weighted means whose
learning rates are set per *cycle* (a fraction of the profile renewed per day or
per week), so the same parameters work for 5-minute, hourly and daily windows.
The spread of the residual is tracked per hour-of-day bin (mean absolute
deviation), the standardised residual is turned into a tail probability by a
:class:`~cxstream.detectors.calibration.TailCalibrator` learned on the series'
own history, and the profile is only used when it explains the series better
than a flat level does.

Anomalies and adaptation
------------------------
A point whose tail probability is below ``protect_p`` does not update the level,
the profile or the calibration, so a long incident keeps its score instead of
becoming normal (isolated spikes of at most ``spike_length`` points do enter the
calibration once they are over, so that a spiky series stops alarming on every
spike). A fast, unprotected "shadow" level follows every point; when a
change has persisted for about ``adapt_after`` observations (see
:class:`~cxstream.detectors.gate.IncidentGate`) the protected level jumps to the
shadow and learning resumes: a real new normal stops alarming after roughly
``adapt_after`` windows, a transient incident never pollutes the baseline.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Self

from cxstream.detectors.base import check_time, decode_floats, encode_floats, p_to_score
from cxstream.detectors.calibration import TailCalibrator
from cxstream.detectors.gate import IncidentGate, LearnMode

__all__ = ["SeasonalBaseline"]

_DAY = 86400.0
_HUGE_Z = 1e12


class SeasonalBaseline:
    """Seasonal robust baseline with a calibrated residual score.

    Parameters
    ----------
    bins_per_day
        Resolution of the hour-of-day profile (24 = one bin per hour).
    weekly
        Whether to learn a day-of-week offset as well.
    level_rate
        Learning rate of the level and spreads, per observation.
    season_rate
        Fraction of the daily (and weekly) profile renewed per cycle.
    shadow_rate
        Learning rate of the unprotected shadow level, per observation.
    seasonal_gain
        The profile is used only when its mean absolute residual is below
        ``seasonal_gain`` times that of the flat level.
    protect_p
        Observations with a tail probability below this are treated as anomalous
        and kept out of the baseline.
    adapt_after
        Number of persistently anomalous observations after which a change is
        accepted as the new normal.
    spike_length
        A run of at most this many anomalous observations counts as an isolated
        spike: once it is over, its largest residual enters the calibration, so a
        series that spikes now and then learns that spikes are not rare. Longer
        runs (incidents) never enter it.
    warmup
        Number of observations before any score is given.
    decades
        Score scale: a tail probability of ``10 ** -decades`` scores 1.

    Examples
    --------
    A daily pattern with an evening peak: the peak is normal, the same value at
    night is not.

    >>> from datetime import datetime, timedelta, timezone
    >>> det = SeasonalBaseline()
    >>> t0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
    >>> def kpi(h: int) -> float:
    ...     return 50.0 + (30.0 if 18 <= h <= 21 else 0.0) + (h * 7 % 5) * 0.5
    >>> for i in range(24 * 28):
    ...     t = t0 + timedelta(hours=i)
    ...     _ = det.score_one(kpi(t.hour), t)
    ...     det.learn_one(kpi(t.hour), t)
    >>> evening = t0 + timedelta(days=28, hours=19)
    >>> night = t0 + timedelta(days=28, hours=3)
    >>> det.score_one(kpi(19), evening) < 0.3
    True
    >>> det.score_one(80.0, night) > 0.8
    True
    """

    def __init__(
        self,
        bins_per_day: int = 24,
        weekly: bool = True,
        level_rate: float = 0.01,
        season_rate: float = 0.2,
        shadow_rate: float = 0.05,
        seasonal_gain: float = 0.9,
        protect_p: float = 1e-3,
        adapt_after: int = 200,
        spike_length: int = 10,
        warmup: int = 20,
        decades: float = 5.0,
    ) -> None:
        self.bins_per_day = bins_per_day
        self.weekly = weekly
        self.level_rate = level_rate
        self.season_rate = season_rate
        self.shadow_rate = shadow_rate
        self.seasonal_gain = seasonal_gain
        self.protect_p = protect_p
        self.adapt_after = adapt_after
        self.spike_length = spike_length
        self.warmup = warmup
        self.decades = decades
        self._calibrator = TailCalibrator()
        self._gate = IncidentGate(adapt_after)
        self._n = 0
        self._level = 0.0
        self._scale = 0.0
        self._shadow = 0.0
        self._err_flat = 0.0
        self._err_seas = 0.0
        self._dt = 0.0
        self._last_ts = math.nan
        self._hod = [0.0] * bins_per_day
        self._hod_scale = [0.0] * bins_per_day
        self._hod_n = [0] * bins_per_day
        self._dow = [0.0] * 7
        self._dow_n = [0] * 7
        self._cache: tuple[float, datetime, float, float] | None = None
        self._last_mode = LearnMode.LEARN
        self._run_len = 0
        self._run_max = 0.0

    # -- prediction -----------------------------------------------------------------
    def _bins(self, t: datetime) -> tuple[int, int]:
        b = (t.hour * 60 + t.minute) * self.bins_per_day // 1440
        return b, t.weekday()

    @property
    def seasonal(self) -> bool:
        """Whether the profile currently explains the series better than a flat level."""
        return self._err_seas < self.seasonal_gain * self._err_flat

    @property
    def n(self) -> int:
        """Points learned so far."""
        return self._n

    def predict(self, t: datetime) -> tuple[float, float]:
        """Expected value at ``t`` and the typical absolute deviation around it."""
        b, d = self._bins(check_time(t))
        return self._predict(b, d)

    def _predict(self, b: int, d: int) -> tuple[float, float]:
        if self._hod_n[b] >= 3 and self._err_seas < self.seasonal_gain * self._err_flat:
            pred = self._level + self._hod[b]
            if self.weekly:
                pred += self._dow[d]
            return pred, self._hod_scale[b]
        return self._level, self._scale

    def residual(self, x: float, t: datetime) -> tuple[float, float]:
        """Signed standardised residual of ``x`` and its tail probability.

        Both are computed before learning ``x``; the result is cached so that a
        ``score_one`` followed by ``learn_one`` of the same point costs one evaluation.
        """
        cache = self._cache
        if cache is not None and cache[0] == x and cache[1] == t:
            return cache[2], cache[3]
        b, d = self._bins(check_time(t))
        pred, scale = self._predict(b, d)
        dev = x - pred
        if scale > 0.0:
            u = dev / scale
            if u > _HUGE_Z:
                u = _HUGE_Z
            elif u < -_HUGE_Z:
                u = -_HUGE_Z
        else:
            u = 0.0 if dev == 0.0 else math.copysign(_HUGE_Z, dev)
        p = 1.0 if self._n < self.warmup else self._calibrator.survival(abs(u))
        self._cache = (x, t, u, p)
        return u, p

    def p_value(self, x: float, t: datetime) -> float:
        """Tail probability of the residual of ``x`` at ``t``."""
        return self.residual(x, t)[1]

    def score_one(self, x: float, t: datetime) -> float:
        """Anomaly score of ``x`` at ``t`` in ``[0, 1]``."""
        return p_to_score(self.residual(x, t)[1], self.decades)

    @property
    def last_mode(self) -> LearnMode:
        """How the last learned observation was used (learned, kept out, or accepted)."""
        return self._last_mode

    # -- learning -------------------------------------------------------------------
    def learn_one(self, x: float, t: datetime, anomalous: bool | None = None) -> None:
        """Learn ``x`` observed at ``t``.

        ``anomalous`` overrides the detector's own judgement (``p < protect_p``);
        a combining detector uses it to protect the baseline from points that
        another component flagged.
        """
        u, p = self.residual(x, t)
        self._cache = None
        b, d = self._bins(t)
        ts = t.timestamp()
        gap = ts - self._last_ts
        if gap > 0.0:
            if self._dt <= 0.0:
                self._dt = gap
            else:
                dt = self._dt
                self._dt = dt + 0.01 * (min(max(gap, 0.1 * dt), 10.0 * dt) - dt)
        self._last_ts = ts
        self._n += 1
        n = self._n
        if anomalous is None:
            anomalous = p < self.protect_p
        mode = LearnMode.LEARN if n <= self.warmup else self._gate.update(anomalous)
        self._last_mode = mode
        dow = self._dow[d] if self.weekly else 0.0
        deseason = x - self._hod[b] - dow
        if n == 1:
            self._level = x
            self._shadow = deseason
        else:
            self._shadow += self.shadow_rate * (deseason - self._shadow)
        if n > self.warmup:
            if mode is LearnMode.PROTECT:
                self._run_len += 1
                if abs(u) > self._run_max:
                    self._run_max = abs(u)
            else:
                if 0 < self._run_len <= self.spike_length:
                    self._calibrator.learn(self._run_max)
                self._run_len = 0
                self._run_max = 0.0
                self._calibrator.learn(abs(u))
        if mode is LearnMode.PROTECT:
            return
        if mode is LearnMode.ACCEPT:
            self._level = self._shadow
        level = self._level
        r = x - level
        ar = abs(r)
        if n <= self.warmup:
            a = 1.0 / n
            self._level = level + r * a
        else:
            a = self.level_rate
            if r > 0.0:
                self._level = level + a * self._scale
            elif r < 0.0:
                self._level = level - a * self._scale
        self._scale += a * (ar - self._scale)
        e = abs(deseason - level)
        self._err_flat += a * (ar - self._err_flat)
        self._err_seas += a * (e - self._err_seas)
        per_bin = _DAY / self.bins_per_day / self._dt if self._dt > 0.0 else 1.0
        keep = 1.0 - self.season_rate
        nb = self._hod_n[b] + 1
        rh = max(1.0 / nb, 1.0 - keep ** (1.0 / per_bin) if per_bin > 1.0 else self.season_rate)
        self._hod_n[b] = nb
        self._hod[b] += rh * (x - level - dow - self._hod[b])
        self._hod_scale[b] += rh * (e - self._hod_scale[b])
        if self.weekly:
            per_day = _DAY / self._dt if self._dt > 0.0 else 1.0
            nd = self._dow_n[d] + 1
            rd = max(1.0 / nd, 1.0 - keep ** (1.0 / per_day) if per_day > 1.0 else self.season_rate)
            self._dow_n[d] = nd
            self._dow[d] += rd * (x - level - self._hod[b] - self._dow[d])

    # -- state ----------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot (about 1.5 KiB)."""
        return {
            "params": {
                "bins_per_day": self.bins_per_day,
                "weekly": self.weekly,
                "level_rate": self.level_rate,
                "season_rate": self.season_rate,
                "shadow_rate": self.shadow_rate,
                "seasonal_gain": self.seasonal_gain,
                "protect_p": self.protect_p,
                "adapt_after": self.adapt_after,
                "spike_length": self.spike_length,
                "warmup": self.warmup,
                "decades": self.decades,
            },
            "n": self._n,
            "run": self._run_len,
            "scalars": encode_floats(
                [
                    self._run_max,
                    self._level,
                    self._scale,
                    self._shadow,
                    self._err_flat,
                    self._err_seas,
                    self._dt,
                    self._last_ts,
                ]
            ),
            "hod": encode_floats(self._hod + self._hod_scale),
            "dow": encode_floats(self._dow),
            "hod_n": self._hod_n,
            "dow_n": self._dow_n,
            "calibrator": self._calibrator.to_state(),
            "gate": self._gate.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild from ``to_state`` output."""
        obj = cls(**state["params"])
        obj._n = int(state["n"])
        obj._run_len = int(state["run"])
        (
            obj._run_max,
            obj._level,
            obj._scale,
            obj._shadow,
            obj._err_flat,
            obj._err_seas,
            obj._dt,
            obj._last_ts,
        ) = decode_floats(state["scalars"])
        hod = decode_floats(state["hod"])
        k = obj.bins_per_day
        obj._hod, obj._hod_scale = hod[:k], hod[k:]
        obj._dow = decode_floats(state["dow"])
        obj._hod_n = [int(v) for v in state["hod_n"]]
        obj._dow_n = [int(v) for v in state["dow_n"]]
        obj._calibrator = TailCalibrator.from_state(state["calibrator"])
        obj._gate = IncidentGate.from_state(state["gate"])
        return obj
