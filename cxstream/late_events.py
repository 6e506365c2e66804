"""Events that may have arrived after their detection window was judged.

A window is judged once the watermark has passed its end by the allowed lateness
(:mod:`cxstream.windows`). An event that comes later still counts: the engine adds it
to its buckets like any other. So that the judged figures are not silently changed,
the engine also leaves a :class:`LateEvent` note for each event that *may* be late
(its bucket ended more than the allowed lateness before the latest event time the
engine had seen): the event's time, bucket, the series it was counted in and what it
added to them. The notes are kept per owner partition of the series (the partition
whose detection stage watches them, :func:`~cxstream.checkpoints.owner_of`), written
with the counters, and read by that stage, which turns the notes of windows it has
already judged into correction lines (:mod:`cxstream.corrections`) and forgets the
rest (their windows were not judged yet, so they include them).

>>> note = LateEvent("e-1", 1772445600.0, 1971606, ("country=DE",), {"responses": 1})
>>> LateEvent.from_json("e-1", note.to_json()) == note
True
>>> LateFilter(bucket_seconds=900, lateness_s=600).limit(1772449200.0)
1969387
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LateEvent", "LateFilter"]


@dataclass(frozen=True, slots=True)
class LateEvent:
    """What one possibly late event added, and where."""

    event_id: str
    ts: float
    bucket: int
    series: tuple[str, ...]
    counters: Mapping[str, float]

    def to_json(self) -> str:
        """The note's stored form (the event id is its key)."""
        return json.dumps(
            [self.ts, self.bucket, list(self.series), dict(self.counters)],
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, event_id: str, raw: str) -> LateEvent:
        ts, bucket, series, counters = json.loads(raw)
        return cls(event_id, float(ts), int(bucket), tuple(series), counters)


@dataclass(frozen=True, slots=True)
class LateFilter:
    """Which buckets may hold late events, given the latest event time seen.

    A window closes once the watermark (never ahead of the latest event time any
    input stream has reached) passes its end by ``lateness_s``; a bucket ends no later
    than its window, so only an event whose bucket ended ``lateness_s`` before the
    latest event time can be late.
    """

    bucket_seconds: int
    lateness_s: float

    def limit(self, latest: float) -> int:
        """Buckets below this number may hold late events (``latest`` in epoch seconds)."""
        if latest == -math.inf:
            return -(2**62)
        return math.floor((latest - self.lateness_s) / self.bucket_seconds)
