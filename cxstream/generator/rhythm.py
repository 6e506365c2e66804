"""Daily and weekly rhythm of customer activity in local time.

Order volume is quiet at night and peaks in the evening, is weak on Saturday and strong
on Sunday; survey answers follow the same hours of the day.
"""

from __future__ import annotations

import itertools

from cxstream.generator.calendar import SUNDAY

__all__ = ["ANSWER_HOURS", "RHYTHM"]

#: Relative order volume per local hour (0..23): quiet nights, evening peak.
_HOURLY: tuple[float, ...] = (
    0.35, 0.2, 0.12, 0.08, 0.07, 0.1, 0.25, 0.5, 0.7, 0.85, 0.95, 1.0,
    1.1, 1.05, 1.0, 1.0, 1.05, 1.15, 1.35, 1.6, 1.8, 1.75, 1.3, 0.75,
)  # fmt: skip
#: Relative order volume per local weekday (Monday = 0): weak Saturday, strong Sunday.
_WEEKDAY: tuple[float, ...] = (1.08, 1.0, 0.98, 0.97, 0.93, 0.8, 1.12)
#: Extra evening (18-22 h) boost on Sunday and Monday.
_EVENING_BOOST: dict[int, float] = {SUNDAY: 1.2, 0: 1.15}


def _rhythm() -> tuple[tuple[float, ...], ...]:
    """Weekday x local-hour volume factors, normalised to mean 1."""
    rows = []
    for wd in range(7):
        boost = _EVENING_BOOST.get(wd, 1.0)
        rows.append(
            [_WEEKDAY[wd] * _HOURLY[h] * (boost if 18 <= h <= 22 else 1.0) for h in range(24)]
        )
    mean = sum(sum(r) for r in rows) / (7 * 24)
    return tuple(tuple(v / mean for v in r) for r in rows)


#: Order volume factor by local weekday (Monday = 0) and local hour, with mean 1.
RHYTHM = _rhythm()

#: Hours in which answers to surveys are given (local), as cumulative weights.
ANSWER_HOURS = tuple(itertools.accumulate(_HOURLY))
