"""Building blocks shared by every rule model: the frozen base model and typed scalars.

Rule files are data, so every value is checked as it is read and the checks say what
a valid value looks like:

* durations are a number and a unit, ``30s``, ``15m``, ``1h``, ``1d``, ``2w``, or a
  sequence of them (``1h30m``); they become :class:`~datetime.timedelta`;
* times of day are ``HH:MM`` strings (``"21:30"``); they become :class:`~datetime.time`;
* names (of rules, receivers, voucher pools) are lower-case words with ``_`` or ``-``;
* country codes are ISO 3166-1 alpha-2 (``DE``), languages ISO 639-1 (``de``).

>>> parse_duration("1h30m")
datetime.timedelta(seconds=5400)
>>> format_duration(parse_duration("90m"))
'1h30m'
>>> format_duration(parse_duration("2d"))
'2d'
"""

from __future__ import annotations

import difflib
import re
from datetime import time, timedelta
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

__all__ = [
    "DURATION_HINT",
    "DURATION_PATTERN",
    "CountryCode",
    "Duration",
    "LabelName",
    "Language",
    "Name",
    "ReasonCode",
    "RulesModel",
    "TimeOfDay",
    "TimeZoneName",
    "check_unique",
    "format_duration",
    "parse_duration",
    "parse_time_of_day",
]

_UNITS: dict[str, int] = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([wdhms])")
#: The JSON-schema pattern of a duration string.
DURATION_PATTERN = r"^([0-9]+[wdhms])+$"
#: What a duration looks like, for error hints.
DURATION_HINT = "a duration is a number and a unit (s, m, h, d, w), e.g. 30s, 15m, 1h, 1d, 1h30m"


class RulesModel(BaseModel):
    """Base of every rule-file model: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def parse_duration(value: object) -> timedelta:
    """A duration string (``15m``, ``1h``, ``1d``, ``1h30m``) as a positive or zero
    :class:`~datetime.timedelta`; a ``timedelta`` passes through.

    >>> parse_duration("0s")
    datetime.timedelta(0)
    >>> parse_duration("1 hour")
    Traceback (most recent call last):
    ...
    ValueError: '1 hour' is not a duration: a duration is a number and a unit (s, m, h, d, w), ...
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError(f"a duration must not be negative, got {value}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration: {DURATION_HINT}")
    text = value.strip()
    parts = _PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration: {DURATION_HINT}")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


def format_duration(value: timedelta) -> str:
    """The shortest duration string for ``value`` (whole seconds).

    >>> format_duration(timedelta(hours=36))
    '1d12h'
    >>> format_duration(timedelta(0))
    '0s'
    """
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in _UNITS.items():
        if unit == "w" and seconds % size:
            continue
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def parse_time_of_day(value: object) -> time:
    """An ``HH:MM`` string as a :class:`~datetime.time`; a ``time`` passes through.

    >>> parse_time_of_day("07:30")
    datetime.time(7, 30)
    """
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        match = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", value.strip())
        if match:
            return time(int(match.group(1)), int(match.group(2)))
    raise ValueError(f"{value!r} is not a time of day: write it as a quoted HH:MM, e.g. '21:30'")


def _format_time(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": DURATION_HINT,
            "examples": ["30s", "15m", "1h", "1d"],
        }
    ),
]
"""A duration written as ``15m``, ``1h``, ``1d`` (see :func:`parse_duration`)."""

TimeOfDay = Annotated[
    time,
    BeforeValidator(parse_time_of_day),
    PlainSerializer(_format_time, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$",
            "description": "a local time of day, HH:MM",
            "examples": ["21:00", "08:00"],
        }
    ),
]
"""A local time of day written as ``HH:MM``."""

Name = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$"),
]
"""A rule, receiver or pool name: lower-case letters, digits, ``_`` and ``-``."""

LabelName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")]
"""An alert label name (as in Prometheus/Alertmanager)."""

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""An ISO 3166-1 alpha-2 country code, e.g. ``DE``."""

Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
"""An ISO 639-1 language code, e.g. ``de``."""

ReasonCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")]
"""A feedback reason code, e.g. ``delivery_late``."""


def check_unique(values: Any, what: str) -> None:
    """Raise ``ValueError`` naming the first repeated value of ``values``."""
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} is given twice")
        seen.add(value)


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(value, _zones(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown time zone {value!r}{hint}: use an IANA name such as Europe/Berlin"
        ) from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
"""An IANA time zone name, e.g. ``Europe/Berlin``."""
