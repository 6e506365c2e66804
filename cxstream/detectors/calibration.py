"""Online calibration of a non-negative surprise statistic into a tail probability.

Residual magnitudes are not Gaussian: some KPIs are spiky, others smooth. Rather
than assuming a distribution, :class:`TailCalibrator` keeps a fading histogram of
the statistic on log-spaced bins and answers "what fraction of past values were
at least this large?". Beyond the largest value seen it extrapolates with an
exponential tail. The result is comparable across series, so one alert
threshold fits all of them.
"""

from __future__ import annotations

import math
from typing import Any, Self

from cxstream.detectors.base import decode_floats, encode_floats

__all__ = ["TailCalibrator"]

_RESCALE_AT = 1e150


class TailCalibrator:
    """Fading empirical survival function of a non-negative statistic.

    Parameters
    ----------
    low_decade, high_decade
        The bins cover ``10 ** low_decade`` to ``10 ** high_decade``; values outside
        fall in the first or last bin.
    n_bins
        Number of log-spaced bins.
    horizon
        Memory in observations: weights fade by ``1 - 1 / horizon`` per observation.
    tail_rate
        Beyond the largest value seen, the tail probability shrinks by
        ``exp(-tail_rate * excess / largest)``.
    min_count
        Fewer (effective) observations than this give a tail probability of 1.

    Examples
    --------
    >>> cal = TailCalibrator()
    >>> for i in range(1000):
    ...     cal.learn((i % 100) / 50)
    >>> round(cal.survival(1.0), 2)
    0.5
    >>> cal.survival(10.0) < 1e-3
    True
    """

    def __init__(
        self,
        low_decade: float = -2.0,
        high_decade: float = 3.0,
        n_bins: int = 40,
        horizon: float = 20000.0,
        tail_rate: float = 3.0,
        min_count: float = 20.0,
    ) -> None:
        self.low_decade = low_decade
        self.high_decade = high_decade
        self.n_bins = n_bins
        self.horizon = horizon
        self.tail_rate = tail_rate
        self.min_count = min_count
        self._per_decade = n_bins / (high_decade - low_decade)
        self._fade = 1.0 / (1.0 - 1.0 / horizon)
        self._counts = [0.0] * n_bins
        self._total = 0.0
        self._inc = 1.0
        self._max = 0.0
        self._n = 0

    def _bin(self, z: float) -> int:
        if z <= 0.0:
            return 0
        i = int((math.log10(z) - self.low_decade) * self._per_decade)
        if i < 0:
            return 0
        return i if i < self.n_bins else self.n_bins - 1

    @property
    def effective_count(self) -> float:
        """Number of observations the histogram currently represents."""
        return self._total / self._inc

    def survival(self, z: float) -> float:
        """Estimated probability that the statistic is at least ``z``."""
        if self._total < self.min_count * self._inc:
            return 1.0
        if z > self._max:
            base = self._inc / (self._total + self._inc)
            if self._max <= 0.0:
                return base * math.exp(-self.tail_rate * 10.0)
            return base * math.exp(-self.tail_rate * (z - self._max) / self._max)
        above = sum(self._counts[self._bin(z) :])
        return (above + self._inc) / (self._total + self._inc)

    def learn(self, z: float) -> None:
        """Add one observation of the statistic."""
        self._n += 1
        self._counts[self._bin(z)] += self._inc
        self._total += self._inc
        if z > self._max:
            self._max = z
        self._inc *= self._fade
        if self._inc > _RESCALE_AT:
            scale = 1.0 / self._inc
            self._counts = [c * scale for c in self._counts]
            self._total *= scale
            self._inc = 1.0

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot."""
        return {
            "params": {
                "low_decade": self.low_decade,
                "high_decade": self.high_decade,
                "n_bins": self.n_bins,
                "horizon": self.horizon,
                "tail_rate": self.tail_rate,
                "min_count": self.min_count,
            },
            "counts": encode_floats(self._counts),
            "scalars": encode_floats([self._total, self._inc, self._max]),
            "n": self._n,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild from ``to_state`` output."""
        obj = cls(**state["params"])
        obj._counts = decode_floats(state["counts"])
        obj._total, obj._inc, obj._max = decode_floats(state["scalars"])
        obj._n = int(state["n"])
        return obj
