"""A value over time: short histories of ``(since, value)`` changes, answered "as of".

An order's carrier and promised date and a customer's segment can change; each keeps a
short history so that an answer given before a change is judged by what was known when
it was given, whatever was read first.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, TypeVar

__all__ = [
    "HISTORY_LIMIT",
    "History",
    "dump_history",
    "is_plain",
    "load_history",
    "parse_dt",
    "record_change",
    "value_as_of",
]

#: ``datetime.fromisoformat`` with a cache (stored states repeat the same times).
parse_dt = lru_cache(maxsize=8192)(datetime.fromisoformat)

_V = TypeVar("_V")

#: Most changes a history keeps; older ones are folded into the oldest kept entry.
HISTORY_LIMIT = 4

#: A value over time: ``(since, value)`` in increasing time, each value differing from the
#: one before it. The value at ``t`` is that of the last entry with ``since <= t``.
History = list[tuple[datetime, _V]]

_since = itemgetter(0)


def record_change(
    history: History[_V], ts: datetime, value: _V, limit: int = HISTORY_LIMIT
) -> bool:
    """Note that ``value`` held at ``ts``; returns whether the history changed.

    Observations may arrive in any order, and one at ``ts`` never changes the value as of
    a time before ``ts`` (short of the oldest entry being dropped). Of two at the same time
    the one recorded last wins. An observation that repeats the value in force is not
    kept, so a late observation of another value inside such a stretch holds until the
    next change. Beyond ``limit`` entries the oldest is dropped and the next one is taken
    to hold from the dropped entry's time, so the time a value was first known is kept.

    >>> from datetime import UTC, datetime
    >>> h: History[str] = []
    >>> at = [datetime(2026, 3, d, tzinfo=UTC) for d in range(1, 6)]
    >>> record_change(h, at[2], "dpd"), record_change(h, at[0], "dhl")
    (True, True)
    >>> record_change(h, at[1], "dhl"), record_change(h, at[3], "dpd")
    (False, False)
    >>> [(t.day, v) for t, v in h]
    [(1, 'dhl'), (3, 'dpd')]
    """
    n = len(history)
    if n and ts >= history[-1][0]:  # the usual case: the newest observation
        last_ts, last_value = history[-1]
        if last_value == value:
            return False
        if ts == last_ts:
            if n > 1 and history[-2][1] == value:
                del history[-1]
            else:
                history[-1] = (ts, value)
            return True
        history.append((ts, value))
    else:
        i = bisect_right(history, ts, key=_since)  # history[:i] holds from ts or before
        if i and history[i - 1][1] == value:
            return False
        if i and history[i - 1][0] == ts:
            history[i - 1] = (ts, value)
            if i < n and history[i][1] == value:
                del history[i]
            if i > 1 and history[i - 2][1] == value:
                del history[i - 1]
            return True
        if i < n and history[i][1] == value:
            history[i] = (ts, value)  # the value held from earlier on than known
            return True
        history.insert(i, (ts, value))
    if len(history) > limit:
        first = history[0][0]
        del history[0]
        history[0] = (first, history[0][1])
    return True


def value_as_of(history: History[_V], as_of: datetime) -> _V | None:
    """The value known at ``as_of`` (``None`` if none was known yet)."""
    if not history or as_of < history[0][0]:
        return None
    if as_of >= history[-1][0]:
        return history[-1][1]
    return history[bisect_right(history, as_of, key=_since) - 1][1]


def is_plain(history: History[Any], at: datetime | None, value: object) -> bool:
    """Whether ``history`` is what ``at`` and ``value`` alone stand for (one entry, or none
    when either is unknown)."""
    if value is None or at is None:
        return not history
    return len(history) == 1 and history[0][0] == at and history[0][1] == value


def dump_history(history: History[Any], encode: Callable[[Any], object] = str) -> list[object]:
    """``history`` as JSON-ready ``[[iso time, encoded value], ...]``."""
    return [[ts.isoformat(), encode(value)] for ts, value in history]


def load_history(raw: Any, decode: Callable[[Any], _V]) -> History[_V]:
    """The inverse of :func:`dump_history`."""
    return [(parse_dt(ts), decode(value)) for ts, value in raw]
