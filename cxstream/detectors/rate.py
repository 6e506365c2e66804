"""Anomalies in proportions observed as counts, judged against sampling noise.

A detractor share of 25 % means little when it comes from 4 answers and a lot
when it comes from 4,000. :class:`RateDetector` keeps an exponentially weighted
baseline rate ``p0`` (pooled successes over pooled trials) and tests each
window's ``successes / trials`` against it with the score test whose inversion
is the Wilson score interval: ``z = (share - p0) / sqrt(var)``, where ``var``
adds up the binomial variance at the observed volume ``p0 (1 - p0) / trials``,
the uncertainty of the baseline itself, and the window-to-window variation
beyond binomial noise that real KPIs show (estimated online, so a series whose
share naturally wanders a few points is not alarmed on at high volume). A
continuity correction keeps small volumes honest.

Anomalous windows do not update the baseline; a change that persists for about
``adapt_after`` windows becomes the new normal (see
:class:`~cxstream.detectors.gate.IncidentGate`).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Self

from cxstream.detectors.base import check_time, p_to_score
from cxstream.detectors.gate import IncidentGate, LearnMode

__all__ = ["RateDetector"]

_SQRT2 = math.sqrt(2.0)


class RateDetector:
    """Score a window's share against a baseline rate, knowing the volume.

    Parameters
    ----------
    rate
        Baseline memory: pooled counts fade by ``1 - rate`` per window.
    extra_variation
        Whether to estimate and allow for window-to-window variation of the true
        rate beyond binomial noise (recommended for real KPIs).
    protect_p
        Windows with a tail probability below this are kept out of the baseline.
    adapt_after
        Number of persistently anomalous windows after which a new rate is accepted.
    warmup
        Number of windows before any score is given.
    decades
        Score scale: a tail probability of ``10 ** -decades`` scores 1.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> det = RateDetector()
    >>> t0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
    >>> for i in range(60):  # 20 % detractors, 1,000 answers a day
    ...     det.learn_counts(195 + (i * 7) % 11, 1000, t0 + timedelta(days=i))
    >>> t = t0 + timedelta(days=60)
    >>> det.score_counts(1, 4, t) < 0.1  # 25 % of 4 answers: chance
    True
    >>> det.score_counts(920, 4000, t) > 0.6  # 23 % of 4,000 answers: real
    True
    """

    def __init__(
        self,
        rate: float = 0.05,
        extra_variation: bool = True,
        protect_p: float = 1e-3,
        adapt_after: int = 30,
        warmup: int = 7,
        decades: float = 5.0,
    ) -> None:
        self.rate = rate
        self.extra_variation = extra_variation
        self.protect_p = protect_p
        self.adapt_after = adapt_after
        self.warmup = warmup
        self.decades = decades
        self._gate = IncidentGate(adapt_after)
        self._n = 0
        self._succ = 0.0
        self._trials = 0.0
        self._tau2 = 0.0

    @property
    def baseline_rate(self) -> float:
        """Current baseline proportion (0.5 before any data)."""
        return (self._succ + 0.5) / (self._trials + 1.0)

    def p_counts(self, successes: int, trials: int) -> float:
        """Two-sided tail probability of ``successes`` out of ``trials``."""
        if trials <= 0 or self._n < self.warmup:
            return 1.0
        if successes < 0 or successes > trials:
            raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
        p0 = self.baseline_rate
        pq = p0 * (1.0 - p0)
        var = pq / trials + pq / (self._trials + 1.0)
        if self.extra_variation and self._tau2 > 0.0:
            var += self._tau2
        dev = abs(successes / trials - p0) - 0.5 / trials
        if dev <= 0.0:
            return 1.0
        return math.erfc(dev / math.sqrt(var) / _SQRT2)

    def score_counts(self, successes: int, trials: int, t: datetime) -> float:
        """Anomaly score in ``[0, 1]`` of ``successes`` out of ``trials`` at ``t``."""
        check_time(t)
        return p_to_score(self.p_counts(successes, trials), self.decades)

    def learn_counts(
        self, successes: int, trials: int, t: datetime, anomalous: bool | None = None
    ) -> None:
        """Learn one window's counts; ``anomalous`` overrides the own judgement."""
        check_time(t)
        if trials <= 0:
            return
        if anomalous is None:
            anomalous = self.p_counts(successes, trials) < self.protect_p
        self._n += 1
        mode = LearnMode.LEARN if self._n <= self.warmup else self._gate.update(anomalous)
        if mode is LearnMode.PROTECT:
            return
        keep = 1.0 - self.rate
        if mode is LearnMode.ACCEPT:
            keep = 0.0
        share = successes / trials
        if self._trials > 0.0:
            p0 = self.baseline_rate
            pq = p0 * (1.0 - p0)
            excess = (share - p0) ** 2 - pq / trials - pq / (self._trials + 1.0)
            a = max(self.rate, 1.0 / self._n)
            self._tau2 += a * (excess - self._tau2)
        self._succ = keep * self._succ + successes
        self._trials = keep * self._trials + trials

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot."""
        return {
            "params": {
                "rate": self.rate,
                "extra_variation": self.extra_variation,
                "protect_p": self.protect_p,
                "adapt_after": self.adapt_after,
                "warmup": self.warmup,
                "decades": self.decades,
            },
            "n": self._n,
            "succ": self._succ,
            "trials": self._trials,
            "tau2": self._tau2,
            "gate": self._gate.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild from ``to_state`` output."""
        obj = cls(**state["params"])
        obj._n = int(state["n"])
        obj._succ = float(state["succ"])
        obj._trials = float(state["trials"])
        obj._tau2 = float(state["tau2"])
        obj._gate = IncidentGate.from_state(state["gate"])
        return obj
