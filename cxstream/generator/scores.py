"""Latent survey-score model: answers are a rounded normal variable clamped to 0..10.

A country's base NPS is turned into the mean of that latent variable, which problems
with an order then shift downwards.
"""

from __future__ import annotations

import math

__all__ = ["SCORE_SIGMA", "mu_for_nps", "nps"]

#: Latent-score standard deviation of survey answers.
SCORE_SIGMA = 2.1


def nps(mu: float, sigma: float) -> float:
    """NPS of ``clamp(round(N(mu, sigma)), 0, 10)`` answers."""

    def phi(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))

    return 100.0 * ((1.0 - phi((8.5 - mu) / sigma)) - phi((6.5 - mu) / sigma))


def mu_for_nps(target: float, sigma: float = SCORE_SIGMA) -> float:
    """Latent mean whose answers have NPS ``target`` (bisection; NPS rises with mu)."""
    lo, hi = -10.0, 25.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if nps(mid, sigma) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0
