"""Common interface and small helpers shared by the online KPI detectors.

Every detector watches one series (one KPI of one segment) and is fed one closed
event-time window at a time. The engine calls ``score_one`` first and then
``learn_one`` with the same observation, so a score never depends on the point
being scored. Scores are in ``[0, 1]``: they are tail probabilities ``p`` of the
observation under the learned normal behaviour mapped through
``min(1, -log10(p) / decades)``, so a score of 0.6 means roughly "a one in
``10 ** (0.6 * decades)`` event" whatever the series. That common scale is what
lets one alert threshold serve every series.

Detector state is a small JSON-serialisable dict (see ``to_state``/``from_state``)
so that it can be checkpointed per series in a key-value store.
"""

from __future__ import annotations

import base64
import math
import struct
from datetime import datetime
from typing import Any, Protocol, Self, runtime_checkable

__all__ = [
    "CountDetector",
    "Detector",
    "check_time",
    "decode_floats",
    "encode_floats",
    "p_to_score",
]

#: Smallest tail probability used anywhere, so that ``log10`` stays finite.
P_FLOOR = 1e-300


@runtime_checkable
class Detector(Protocol):
    """An online anomaly detector for one real-valued series.

    ``x`` is the value of the KPI for a closed window and ``t`` the window's
    timezone-aware event time (its hour of day and day of week are read in the
    timezone it carries).
    """

    def learn_one(self, x: float, t: datetime) -> None:
        """Update the model with one observation."""

    def score_one(self, x: float, t: datetime) -> float:
        """Anomaly score in ``[0, 1]`` of an observation, before learning it."""
        ...

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot of the parameters and learned state."""
        ...

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector from ``to_state`` output."""
        ...


@runtime_checkable
class CountDetector(Protocol):
    """An online anomaly detector for a proportion observed as counts.

    ``successes`` out of ``trials`` (e.g. detractors out of answers, late out of
    delivered orders) in the window ending at ``t``. Working on counts rather than
    on the share lets the detector know how much the share can move by chance at
    the observed volume.
    """

    def learn_counts(self, successes: int, trials: int, t: datetime) -> None:
        """Update the model with one window's counts."""

    def score_counts(self, successes: int, trials: int, t: datetime) -> float:
        """Anomaly score in ``[0, 1]`` of one window's counts, before learning them."""
        ...

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot of the parameters and learned state."""
        ...

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector from ``to_state`` output."""
        ...


def p_to_score(p: float, decades: float) -> float:
    """Map a tail probability to a score in ``[0, 1]``: ``min(1, -log10(p) / decades)``.

    >>> p_to_score(1.0, 5.0)
    0.0
    >>> p_to_score(1e-3, 5.0)
    0.6
    >>> p_to_score(1e-12, 5.0)
    1.0
    """
    if p >= 1.0:
        return 0.0
    score = -math.log10(max(p, P_FLOOR)) / decades
    return score if score < 1.0 else 1.0


def check_time(t: datetime) -> datetime:
    """Return ``t`` if it is timezone-aware, else raise ``ValueError``."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"timestamp {t.isoformat()} must be timezone-aware")
    return t


def encode_floats(values: list[float]) -> str:
    """Pack floats exactly (IEEE 754 binary64) into a compact base64 string.

    >>> decode_floats(encode_floats([0.1, -2.5, 1e300]))
    [0.1, -2.5, 1e+300]
    """
    return base64.b64encode(struct.pack(f"<{len(values)}d", *values)).decode("ascii")


def decode_floats(text: str) -> list[float]:
    """Inverse of ``encode_floats``."""
    raw = base64.b64decode(text.encode("ascii"))
    return list(struct.unpack(f"<{len(raw) // 8}d", raw))
