"""The emitted event-time window and the simulated events waiting to be emitted.

Events are simulated ahead of time (a delivery is decided when the order is placed) and
kept in one bucket per UTC day until that day is emitted, so a long stream never has to
sit in memory.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from cxstream.generator.calendar import DAY

__all__ = ["Timeline"]


class Timeline:
    """Pending events of the window ``[start_ts, end_ts)`` (epoch seconds), by UTC day."""

    def __init__(self, start_ts: int, end_ts: int) -> None:
        self.start_ts = start_ts
        self.end_ts = end_ts
        self._buckets: defaultdict[int, list[tuple[int, int, dict[str, Any]]]] = defaultdict(list)
        self._next_seq = itertools.count().__next__

    def push(self, t: int, event: dict[str, Any]) -> None:
        """Schedule ``event`` at ``t``; events after the window are dropped."""
        if t < self.end_ts:
            self._buckets[t // DAY].append((t, self._next_seq(), event))

    def pop_day(self, day: int) -> list[tuple[int, int, dict[str, Any]]]:
        """The ``(t, sequence, event)`` entries of UTC ``day`` in time order, then forgotten.

        Events scheduled at the same second keep the order in which they were pushed.
        """
        bucket = self._buckets.pop(day, None)
        if not bucket:
            return []
        bucket.sort()
        return bucket
