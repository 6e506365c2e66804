"""Event-time windows over the counter buckets, and when they close.

A window is a half-open event-time interval ``[start, end)`` made of whole buckets
(bucket ``b`` covers ``[b * bucket_seconds, (b + 1) * bucket_seconds)`` seconds after
the UTC epoch). Windows are aligned to the UTC epoch: window ``k`` starts at
``k * hop`` and lasts ``size`` (``hop`` defaults to ``size``: tumbling windows; a
smaller ``hop`` gives hopping windows, e.g. the last 24 hours every hour), so 1-hour
windows start on the hour and 1-day windows at midnight UTC.

A window *closes* once the event-time watermark (the largest event time seen) has
passed its end by ``allowed_lateness``: events up to that lateness still land in it
before it is judged. :class:`WindowTracker` turns a sequence of watermarks into the
windows that closed, each exactly once and in order, and remembers its position in a
small JSON-serialisable state, so that a restarted worker neither closes a window
twice nor skips one. An event arriving after its window closed is not dropped: its
bucket is counted as usual and :meth:`WindowTracker.corrections_for` names the closed
windows whose figures must be recomputed and re-emitted as a correction.

>>> from datetime import UTC, datetime, timedelta
>>> spec = WindowSpec(size=timedelta(hours=1), allowed_lateness=timedelta(minutes=10))
>>> tracker = WindowTracker(spec, start=datetime(2026, 3, 2, 8, 5, tzinfo=UTC))
>>> tracker.advance(datetime(2026, 3, 2, 9, 9, tzinfo=UTC))
[]
>>> for window in tracker.advance(datetime(2026, 3, 2, 10, 30, tzinfo=UTC)):
...     print(window)
[2026-03-02T08:00:00+00:00, 2026-03-02T09:00:00+00:00)
[2026-03-02T09:00:00+00:00, 2026-03-02T10:00:00+00:00)
>>> late = bucket_of(datetime(2026, 3, 2, 9, 40, tzinfo=UTC), spec.bucket_seconds)
>>> [w.start.hour for w in tracker.corrections_for(late)]
[9]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from cxstream.figures import sum_counters

__all__ = [
    "Window",
    "WindowSpec",
    "WindowTracker",
    "bucket_of",
    "bucket_range",
    "window_counters",
    "window_name",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def _require_aware(ts: datetime, what: str) -> None:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {ts.isoformat()}")


def _epoch_seconds(ts: datetime) -> int:
    """Whole seconds since the UTC epoch, rounded down (exact, no float)."""
    return (ts - _EPOCH) // _SECOND


def _at(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


def bucket_of(ts: datetime, bucket_seconds: int) -> int:
    """The counter bucket an event at ``ts`` falls into.

    >>> bucket_of(datetime(1970, 1, 1, 0, 29, 59, tzinfo=UTC), 900)
    1
    """
    _require_aware(ts, "event time")
    return _epoch_seconds(ts) // bucket_seconds


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """The half-open event-time interval ``[start, end)``.

    >>> w = Window(datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    >>> w.contains(datetime(2026, 3, 2, 23, 59, tzinfo=UTC)), w.contains(w.end)
    (True, False)
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _require_aware(self.start, "window start")
        _require_aware(self.end, "window end")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def contains(self, ts: datetime) -> bool:
        return self.start <= ts < self.end

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def _seconds(value: timedelta) -> str:
    return f"{value.total_seconds():g} s"


class WindowSpec(BaseModel):
    """Which windows KPIs are computed over, and how long they wait for late events.

    ``size`` and ``hop`` must be whole multiples of the counter bucket
    (``bucket_seconds``, the engine's setting of the same name), so that every window is
    a range of whole buckets.

    >>> spec = WindowSpec(size=timedelta(days=1), hop=timedelta(hours=6))
    >>> [w.start.hour for w in spec.windows_for(datetime(2026, 3, 2, 13, tzinfo=UTC))]
    [18, 0, 6, 12]
    >>> from pydantic import ValidationError
    >>> try:
    ...     WindowSpec(size=timedelta(minutes=20))
    ... except ValidationError as error:
    ...     print(error.errors()[0]["msg"])  # doctest: +ELLIPSIS
    Value error, window size 1200 s is not a multiple ...(bucket_seconds); use e.g. 900 s or 1800 s
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    size: timedelta = Field(description="length of a window")
    allowed_lateness: timedelta = Field(
        timedelta(0), description="how far the watermark must pass a window's end to close it"
    )
    hop: timedelta | None = Field(
        None, description="distance between window starts; None: equal to size (tumbling)"
    )
    bucket_seconds: int = Field(900, ge=1, description="size of the counter buckets")

    @model_validator(mode="after")
    def _whole_buckets(self) -> Self:
        bucket = timedelta(seconds=self.bucket_seconds)
        for what, value in (("window size", self.size), ("hop", self.hop)):
            if value is None:
                continue
            if value <= timedelta(0):
                raise ValueError(f"{what} must be positive, got {_seconds(value)}")
            if value % bucket:
                below = value // bucket * self.bucket_seconds
                above = below + self.bucket_seconds
                nearest = f"{below} s or {above} s" if below else f"{above} s"
                raise ValueError(
                    f"{what} {_seconds(value)} is not a multiple of the {self.bucket_seconds} s"
                    f" bucket (bucket_seconds); use e.g. {nearest}"
                )
        if self.hop is not None and self.hop > self.size:
            raise ValueError(
                f"hop {_seconds(self.hop)} is longer than the window size {_seconds(self.size)},"
                " which would leave events in no window"
            )
        if self.allowed_lateness < timedelta(0):
            raise ValueError(
                f"allowed_lateness must not be negative, got {_seconds(self.allowed_lateness)}"
            )
        return self

    @property
    def step(self) -> timedelta:
        """Distance between the starts of consecutive windows."""
        return self.size if self.hop is None else self.hop

    @property
    def size_seconds(self) -> int:
        return self.size // _SECOND

    @property
    def step_seconds(self) -> int:
        return self.step // _SECOND

    def window(self, index: int) -> Window:
        """Window number ``index`` (window 0 starts at the UTC epoch)."""
        start = index * self.step_seconds
        return Window(_at(start), _at(start + self.size_seconds))

    def _indices_containing(self, seconds: int) -> range:
        return range(
            (seconds - self.size_seconds) // self.step_seconds + 1, seconds // self.step_seconds + 1
        )

    def windows_for(self, ts: datetime) -> list[Window]:
        """The windows an event at ``ts`` belongs to, in order (one for tumbling windows).

        >>> spec = WindowSpec(size=timedelta(hours=1))
        >>> [str(w) for w in spec.windows_for(datetime(2026, 3, 2, 9, 59, tzinfo=UTC))]
        ['[2026-03-02T09:00:00+00:00, 2026-03-02T10:00:00+00:00)']
        """
        _require_aware(ts, "event time")
        return [self.window(k) for k in self._indices_containing(_epoch_seconds(ts))]

    def windows_for_bucket(self, bucket: int) -> list[Window]:
        """The windows that bucket ``bucket`` (of ``bucket_seconds``) is part of, in order."""
        return [self.window(k) for k in self.indices_for_bucket(bucket)]

    def indices_for_bucket(self, bucket: int) -> range:
        """The numbers (see :meth:`window`) of the windows bucket ``bucket`` is part of."""
        return self._indices_containing(bucket * self.bucket_seconds)

    def closes_at(self, window: Window) -> datetime:
        """The watermark at which ``window`` closes."""
        return window.end + self.allowed_lateness

    def last_end_by(self, seconds: int) -> int:
        """The latest window end at or before ``seconds`` after the UTC epoch, in seconds."""
        size, step = self.size_seconds, self.step_seconds
        return (seconds - size) // step * step + size


def bucket_range(window: Window, bucket_seconds: int) -> tuple[int, int]:
    """First and last bucket (both included) of ``window``, as
    :meth:`~cxstream.store.StateStore.read_buckets` takes them.

    >>> w = Window(datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC))
    >>> first, last = bucket_range(w, 900)
    >>> last - first + 1, first * 900 == int(w.start.timestamp())
    (4, True)
    """
    bucket = timedelta(seconds=bucket_seconds)
    start, end = window.start - _EPOCH, window.end - _EPOCH
    if start % bucket or end % bucket:
        raise ValueError(f"window {window} is not made of whole {bucket_seconds} s buckets")
    return start // bucket, end // bucket - 1


def window_counters(
    buckets: Mapping[int, Mapping[str, float]], window: Window, bucket_seconds: int
) -> dict[str, float]:
    """The counters of ``window``: the sum of those of its buckets (others are ignored).

    >>> w = Window(datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, 1, tzinfo=UTC))
    >>> window_counters({0: {"responses": 2}, 3: {"responses": 1}, 4: {"responses": 5}}, w, 900)
    {'responses': 3.0}
    """
    first, last = bucket_range(window, bucket_seconds)
    return sum_counters({b: c for b, c in buckets.items() if first <= b <= last})


class _TrackerState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    origin: StrictInt | None
    closed_until: StrictInt | None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.origin is None) != (self.closed_until is None):
            raise ValueError("origin and closed_until are either both set or both null")
        origin, closed = self.origin, self.closed_until
        if origin is not None and closed is not None and closed < origin:
            raise ValueError("closed_until is before origin")
        return self


class WindowTracker:
    """Which windows of ``spec`` closed as the watermark moved.

    Windows ending after ``start`` (or, without it, after the first watermark's
    closing horizon) are tracked: :meth:`advance` returns each of them once, in
    order, when the watermark reaches its end plus the allowed lateness. A watermark
    that goes back changes nothing. Pass the stream's earliest event time as
    ``start`` to have windows that are already closed at the first watermark
    closed too. Every window up to the watermark closes, so a watermark far ahead of the
    data (an implausible event time) closes very many empty windows at once:
    :meth:`advance_indices` gives their numbers without building them.

    The state is two times in epoch seconds: windows ending after ``origin`` are
    tracked, and those ending at or before ``closed_until`` have closed. With another
    ``spec`` after a restart, its windows ending after ``closed_until`` close next.

    >>> spec = WindowSpec(size=timedelta(hours=1))
    >>> tracker = WindowTracker(spec)
    >>> tracker.advance(datetime(2026, 3, 2, 8, 30, tzinfo=UTC))  # starts tracking
    []
    >>> restarted = WindowTracker.from_state(spec, tracker.to_state())
    >>> [w.end.hour for w in restarted.advance(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))]
    [9, 10]
    """

    def __init__(self, spec: WindowSpec, start: datetime | None = None) -> None:
        self.spec = spec
        self._origin: int | None = None
        self._closed: int | None = None
        if start is not None:
            _require_aware(start, "start")
            self._origin = self._closed = spec.last_end_by(_epoch_seconds(start))

    @property
    def closed_until(self) -> datetime | None:
        """Every tracked window ending at or before this has closed (``None``: no
        watermark yet)."""
        return None if self._closed is None else _at(self._closed)

    def advance(self, watermark: datetime) -> list[Window]:
        """The windows that closed since the last call, oldest first."""
        return [self.spec.window(k) for k in self.advance_indices(watermark)]

    def closes_by(self, watermark: datetime) -> bool:
        """Whether :meth:`advance_indices` would change anything at ``watermark``."""
        _require_aware(watermark, "watermark")
        if self._closed is None:
            return True
        horizon = _epoch_seconds(watermark - self.spec.allowed_lateness)
        return self.spec.last_end_by(horizon) > self._closed

    def advance_indices(self, watermark: datetime) -> range:
        """The numbers (see :meth:`WindowSpec.window`) of the windows that closed since
        the last call, in order: what :meth:`advance` returns, without building them (a
        watermark far ahead of the data closes very many windows at once)."""
        _require_aware(watermark, "watermark")
        horizon = _epoch_seconds(watermark - self.spec.allowed_lateness)
        last_end = self.spec.last_end_by(horizon)
        if self._closed is None:
            self._origin = self._closed = last_end
            return range(0)
        if last_end <= self._closed:
            return range(0)
        size, step = self.spec.size_seconds, self.spec.step_seconds
        first = (self._closed - size) // step + 1
        last = (horizon - size) // step
        self._closed = last_end
        return range(first, last + 1)

    def is_closed(self, window: Window) -> bool:
        """Whether ``window`` is tracked and has closed."""
        if self._origin is None or self._closed is None:
            return False
        end = _epoch_seconds(window.end)
        return self._origin < end <= self._closed

    def corrections_for(self, *buckets: int) -> list[Window]:
        """The closed windows that late events in these buckets change, oldest first.

        Ask before advancing with the watermark of the batch that holds the late
        events: windows that close with that watermark include them already.
        """
        found = {
            w
            for bucket in buckets
            for w in self.spec.windows_for_bucket(bucket)
            if self.is_closed(w)
        }
        return sorted(found)

    def to_state(self) -> dict[str, Any]:
        """A small JSON-serialisable snapshot of the position."""
        return {"origin": self._origin, "closed_until": self._closed}

    @classmethod
    def from_state(cls, spec: WindowSpec, state: Mapping[str, Any]) -> Self:
        """Rebuild a tracker from :meth:`to_state` output."""
        checked = _TrackerState.model_validate(dict(state))
        tracker = cls(spec)
        tracker._origin = checked.origin
        tracker._closed = checked.closed_until
        return tracker


def window_name(spec: WindowSpec) -> str:
    """A short name of a window size: ``1h``, ``1d``, ``90m`` (with ``/hop`` if hopping).

    >>> window_name(WindowSpec(size=timedelta(hours=1)))
    '1h'
    """

    def short(value: timedelta) -> str:
        seconds = int(value.total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds % size == 0:
                return f"{seconds // size}{unit}"
        return f"{seconds}s"

    name = short(spec.size)
    return name if spec.hop is None or spec.hop == spec.size else f"{name}/{short(spec.hop)}"
