"""Value-level novelty: is the value outside everything seen so far?

A KPI reaching a level it has never reached before (the highest late-delivery
rate ever, the lowest NPS ever) is one of the most telling signs of an incident,
and needs no distributional assumption. :class:`RangeNovelty` keeps the running
minimum and maximum and scores a new record by how unlikely a record is at this
point of the stream (about ``1 / n`` after ``n`` exchangeable observations) and by
how far it goes beyond the previous extreme, relative to the range seen so far.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Self

from cxstream.detectors.base import check_time, p_to_score

__all__ = ["RangeNovelty"]


class RangeNovelty:
    """Scores values beyond the historical range.

    Parameters
    ----------
    overshoot_rate
        The tail probability of a record is ``exp(-overshoot_rate * e) / (n + 1)``
        where ``e`` is the overshoot as a fraction of the range seen so far.
    warmup
        Number of observations before any score is given.
    decades
        Score scale: a tail probability of ``10 ** -decades`` scores 1.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> det = RangeNovelty()
    >>> t0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
    >>> for i in range(200):
    ...     det.learn_one(10 + (i % 7), t0 + timedelta(hours=i))
    >>> det.score_one(12, t0)
    0.0
    >>> det.score_one(30, t0) > 0.9
    True
    """

    def __init__(self, overshoot_rate: float = 5.0, warmup: int = 20, decades: float = 5.0) -> None:
        self.overshoot_rate = overshoot_rate
        self.warmup = warmup
        self.decades = decades
        self._n = 0
        self._lo = math.inf
        self._hi = -math.inf

    def p_value(self, x: float) -> float:
        """Tail probability of ``x`` under "not a record"."""
        if self._n < self.warmup:
            return 1.0
        lo, hi = self._lo, self._hi
        if lo <= x <= hi:
            return 1.0
        span = hi - lo
        if span <= 0.0:
            span = 1e-9 * max(abs(lo), 1e-300)
        over = (x - hi if x > hi else lo - x) / span
        return math.exp(-self.overshoot_rate * min(over, 1e3)) / (self._n + 1)

    def score_one(self, x: float, t: datetime) -> float:
        """Anomaly score of ``x`` in ``[0, 1]``."""
        check_time(t)
        return p_to_score(self.p_value(x), self.decades)

    def learn_one(self, x: float, t: datetime) -> None:
        """Extend the range with ``x``."""
        check_time(t)
        self.learn_value(x)

    def learn_value(self, x: float) -> None:
        """Extend the range with ``x`` (no timestamp needed)."""
        self._n += 1
        if x < self._lo:
            self._lo = x
        if x > self._hi:
            self._hi = x

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot."""
        return {
            "params": {
                "overshoot_rate": self.overshoot_rate,
                "warmup": self.warmup,
                "decades": self.decades,
            },
            "n": self._n,
            "lo": self._lo if self._n else None,
            "hi": self._hi if self._n else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild from ``to_state`` output."""
        obj = cls(**state["params"])
        obj._n = int(state["n"])
        if obj._n:
            obj._lo = float(state["lo"])
            obj._hi = float(state["hi"])
        return obj
