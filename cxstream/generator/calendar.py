"""Event-time arithmetic of the simulation: time units, weekdays, delivery days, timestamps.

Times are whole epoch seconds (UTC); a *local day* is the number of days since the epoch
in a country's local time. Delivery days run Monday to Saturday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

__all__ = [
    "DAY",
    "HOUR",
    "MINUTE",
    "SUNDAY",
    "add_delivery_days",
    "day_str",
    "epoch",
    "fmt_ts",
    "next_delivery_day",
    "prev_delivery_day",
    "to_utc",
    "weekday",
]

DAY = 86_400
HOUR = 3_600
MINUTE = 60
#: Ordinal of 1970-01-01, to turn "days since the epoch" into a date cheaply.
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: Weekday (Monday = 0) of day 0 since the epoch (1970-01-01 was a Thursday).
_EPOCH_WEEKDAY = 3
SUNDAY = 6


def to_utc(value: datetime) -> datetime:
    """``value`` (timezone-aware) expressed in UTC."""
    return value.astimezone(UTC)


def epoch(value: datetime) -> int:
    """Whole epoch seconds of an aware datetime."""
    return int(value.timestamp())


_DAY_PREFIX: dict[int, str] = {}


def day_str(day: int) -> str:
    """Days since the epoch to ``YYYY-MM-DD``."""
    s = _DAY_PREFIX.get(day)
    if s is None:
        s = date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
        _DAY_PREFIX[day] = s
    return s


_SECONDS: tuple[str, ...] = tuple(f"{i:02d}Z" for i in range(60))
_MINUTE_PREFIX: dict[int, str] = {}


def fmt_ts(t: int) -> str:
    """Epoch seconds to ``YYYY-MM-DDTHH:MM:SSZ``."""
    minute, sec = divmod(t, MINUTE)
    prefix = _MINUTE_PREFIX.get(minute)
    if prefix is None:
        if len(_MINUTE_PREFIX) > 500_000:
            _MINUTE_PREFIX.clear()
        day, rest = divmod(minute, 1440)
        h, m = divmod(rest, 60)
        prefix = _MINUTE_PREFIX[minute] = f"{day_str(day)}T{h:02d}:{m:02d}:"
    return prefix + _SECONDS[sec]


def weekday(local_day: int) -> int:
    """Weekday (Monday = 0) of a day counted from the epoch."""
    return (local_day + _EPOCH_WEEKDAY) % 7


def add_delivery_days(local_day: int, n: int) -> int:
    """``n`` delivery days (Monday to Saturday, the German *Werktage*) after ``local_day``."""
    d = local_day
    while n > 0:
        d += 1
        if weekday(d) != SUNDAY:
            n -= 1
    return d


def next_delivery_day(local_day: int) -> int:
    """The next Monday-to-Saturday day after ``local_day``."""
    d = local_day + 1
    return d + 1 if weekday(d) == SUNDAY else d


def prev_delivery_day(local_day: int) -> int:
    """The last Monday-to-Saturday day before ``local_day``."""
    d = local_day - 1
    return d - 1 if weekday(d) == SUNDAY else d
