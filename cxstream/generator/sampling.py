"""Sampling helpers of the simulation: weighted picks and Poisson counts."""

from __future__ import annotations

import itertools
import math
import random
from bisect import bisect_right
from collections.abc import Sequence

__all__ = ["cum", "pick", "poisson", "weighted_choice"]


def cum(weights: Sequence[float]) -> tuple[float, ...]:
    """Cumulative shares of ``weights`` for :func:`pick`, ending exactly at 1."""
    total = float(sum(weights))
    acc = tuple(w / total for w in itertools.accumulate(weights))
    return (*acc[:-1], 1.0)


def pick(names: Sequence[str], cum: Sequence[float], u: float) -> str:
    """The name whose cumulative share first exceeds ``u`` (uniform in ``[0, 1)``)."""
    i = bisect_right(cum, u)
    return names[i if i < len(names) else -1]


def weighted_choice(rng: random.Random, items: Sequence[tuple[str, float]]) -> str:
    """One code of ``(code, weight)`` items, drawn with probability proportional to weight."""
    total = 0.0
    for _, w in items:
        total += w
    u = rng.random() * total
    for code, w in items:
        u -= w
        if u < 0.0:
            return code
    return items[-1][0]


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson count with mean ``lam`` (normal approximation above 40)."""
    if lam <= 0.0:
        return 0
    if lam > 40.0:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
