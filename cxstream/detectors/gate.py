"""Deciding whether an observation may update a baseline.

Anomalous observations must not pull a baseline toward themselves, otherwise a
long incident slowly becomes "normal" and stops alarming. But a permanent change
(a new carrier, a new survey channel) must eventually become the new normal, or
it alarms forever. :class:`IncidentGate` implements that trade-off: it tracks the
exponentially weighted share of recent observations that were judged anomalous;
while that share is below one half, anomalous points are kept out of the
baseline; once a change has persisted for about ``adapt_after`` observations the
share crosses one half and the gate tells its owner to accept the new regime.
"""

from __future__ import annotations

import enum
from typing import Any, Self

__all__ = ["IncidentGate", "LearnMode"]


class LearnMode(enum.Enum):
    """What an owner should do with an observation."""

    LEARN = "learn"
    """Normal observation: learn it."""
    PROTECT = "protect"
    """Anomalous observation during a (so far) transient incident: do not learn it."""
    ACCEPT = "accept"
    """The change has persisted long enough: re-anchor the baseline and learn it."""


class IncidentGate:
    """Protects a baseline from anomalies until a change has clearly persisted.

    Parameters
    ----------
    adapt_after
        Number of consecutive anomalous observations after which a change is
        accepted as the new normal. Interrupted incidents take longer.

    Examples
    --------
    >>> gate = IncidentGate(adapt_after=10)
    >>> [gate.update(True).value for _ in range(10)][-2:]
    ['protect', 'accept']
    >>> gate.update(False).value
    'learn'
    """

    def __init__(self, adapt_after: int = 200) -> None:
        self.adapt_after = adapt_after
        self._rate = 1.0 - 0.5 ** (1.0 / max(adapt_after, 1))
        self._share = 0.0
        self._prev = False
        self._first = False

    @property
    def first_of_run(self) -> bool:
        """Whether the last observation started a run of anomalous observations."""
        return self._first

    def update(self, anomalous: bool) -> LearnMode:
        """Record whether the next observation is anomalous; say how to learn it."""
        self._first = anomalous and not self._prev
        self._prev = anomalous
        self._share += self._rate * ((1.0 if anomalous else 0.0) - self._share)
        if not anomalous:
            return LearnMode.LEARN
        if self._share >= 0.5 - 1e-9:
            self._share = 0.0
            return LearnMode.ACCEPT
        return LearnMode.PROTECT

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot."""
        return {
            "adapt_after": self.adapt_after,
            "share": self._share,
            "prev": self._prev,
            "first": self._first,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild from ``to_state`` output."""
        obj = cls(adapt_after=int(state["adapt_after"]))
        obj._share = float(state["share"])
        obj._prev = bool(state["prev"])
        obj._first = bool(state["first"])
        return obj
