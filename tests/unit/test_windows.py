"""Event-time windows line up with UTC and the buckets, and each closes exactly once.

Covers :class:`WindowSpec` (alignment of 1-hour and 1-day windows to UTC epoch
boundaries, hopping windows, the multiple-of-bucket rule and its message), the bucket
range and counters of a window, :class:`WindowTracker` (each window closed once and in
order whatever the watermarks do, the same windows after a restart from its state as
without one) and the closed windows a late bucket asks to correct.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cxstream.windows import (
    Window,
    WindowSpec,
    WindowTracker,
    bucket_of,
    bucket_range,
    window_counters,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
T0 = datetime(2026, 3, 2, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_hour_windows_start_on_the_utc_hour_whatever_the_events_offset() -> None:
    spec = WindowSpec(size=HOUR)
    # 10:15 in India is 04:45 UTC.
    (window,) = spec.windows_for(datetime(2026, 3, 2, 10, 15, tzinfo=IST))
    assert window == Window(at(4), at(5))
    assert window.start.tzinfo is UTC
    (last,) = spec.windows_for(at(5) - timedelta(microseconds=1))
    assert last == window
    assert spec.windows_for(at(5)) == [Window(at(5), at(6))]


def test_day_windows_run_from_midnight_to_midnight_utc() -> None:
    spec = WindowSpec(size=DAY)
    assert spec.windows_for(at(23.99)) == [Window(T0, T0 + DAY)]
    assert spec.windows_for(T0 + DAY) == [Window(T0 + DAY, T0 + 2 * DAY)]
    assert spec.window(0) == Window(
        datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 2, tzinfo=UTC)
    )


def test_hopping_windows_cover_each_instant_size_over_hop_times() -> None:
    spec = WindowSpec(size=DAY, hop=6 * HOUR)
    windows = spec.windows_for(at(13))
    assert [w.start for w in windows] == [at(-6), at(0), at(6), at(12)]
    assert all(w.contains(at(13)) and w.duration == DAY for w in windows)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([(HOUR, None), (DAY, None), (DAY, 6 * HOUR), (2 * HOUR, HOUR)]),
    st.integers(0, 10**9),
)
def test_a_bucket_belongs_to_the_windows_of_its_instants(
    shape: tuple[timedelta, timedelta | None], second: int
) -> None:
    size, hop = shape
    spec = WindowSpec(size=size, hop=hop)
    ts = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=second)
    bucket = bucket_of(ts, spec.bucket_seconds)
    windows = spec.windows_for(ts)
    assert spec.windows_for_bucket(bucket) == windows
    assert len(windows) == size // spec.step
    for window in windows:
        first, last = bucket_range(window, spec.bucket_seconds)
        assert first <= bucket <= last


def test_bucket_range_of_hour_and_day_windows() -> None:
    hour = Window(at(9), at(10))
    first, last = bucket_range(hour, 900)
    assert (last - first + 1, first) == (4, bucket_of(at(9), 900))
    assert last == bucket_of(at(10) - timedelta(microseconds=1), 900)
    first, last = bucket_range(Window(T0, T0 + DAY), 900)
    assert last - first + 1 == 96
    with pytest.raises(ValueError, match="whole 900 s buckets"):
        bucket_range(Window(at(9.1), at(10)), 900)


def test_window_counters_sum_the_windows_buckets_only() -> None:
    window = Window(at(9), at(10))
    first, last = bucket_range(window, 900)
    buckets = {
        first - 1: {"responses": 100.0},
        first: {"responses": 2.0, "detractors": 1.0},
        last: {"responses": 3.0, "reason:price": 1.0},
        last + 1: {"responses": 100.0},
    }
    assert window_counters(buckets, window, 900) == {
        "responses": 5.0,
        "detractors": 1.0,
        "reason:price": 1.0,
    }
    assert window_counters({}, window, 900) == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"size": timedelta(minutes=20)}, "window size 1200 s is not a multiple of the 900 s"),
        ({"size": timedelta(minutes=20)}, "use e.g. 900 s or 1800 s"),
        ({"size": timedelta(minutes=5)}, "use e.g. 900 s"),
        ({"size": HOUR, "bucket_seconds": 3600 * 7}, "is not a multiple of the 25200 s"),
        ({"size": DAY, "hop": timedelta(minutes=50)}, "hop 3000 s is not a multiple"),
        ({"size": HOUR, "hop": DAY}, "hop 86400 s is longer than the window size 3600 s"),
        ({"size": timedelta(0)}, "window size must be positive"),
        ({"size": HOUR, "allowed_lateness": -HOUR}, "allowed_lateness must not be negative"),
        ({"size": HOUR, "slide": HOUR}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_specs_are_rejected_readably(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WindowSpec.model_validate(fields)


def test_specs_are_frozen_and_read_from_configuration_values() -> None:
    spec = WindowSpec.model_validate({"size": "PT1H", "allowed_lateness": 600})
    assert (spec.size, spec.allowed_lateness, spec.step) == (HOUR, timedelta(minutes=10), HOUR)
    assert WindowSpec(size=timedelta(minutes=20), bucket_seconds=60).size_seconds == 1200
    with pytest.raises(ValidationError):
        spec.size = DAY  # type: ignore[misc]


def test_naive_times_are_rejected() -> None:
    spec = WindowSpec(size=HOUR)
    with pytest.raises(ValueError, match="timezone-aware"):
        spec.windows_for(datetime(2026, 3, 2, 9))
    with pytest.raises(ValueError, match="timezone-aware"):
        WindowTracker(spec).advance(datetime(2026, 3, 2, 9))
    with pytest.raises(ValueError, match="not after its start"):
        Window(at(2), at(1))


# -- closing windows ------------------------------------------------------------------

SPECS = [
    WindowSpec(size=HOUR),
    WindowSpec(size=HOUR, allowed_lateness=timedelta(minutes=10)),
    WindowSpec(size=DAY, allowed_lateness=2 * HOUR),
    WindowSpec(size=DAY, hop=6 * HOUR, allowed_lateness=HOUR),
]
# Watermarks as seconds after T0, within 4 days, going back now and then.
watermarks = st.lists(st.integers(-3600, 4 * 86_400), max_size=30)


def due(spec: WindowSpec, start: datetime, watermark: datetime) -> list[Window]:
    """Every window ending after ``start`` that ``watermark`` closes, by brute force."""
    windows = []
    window = spec.windows_for(start)[0]
    while window.end + spec.allowed_lateness <= watermark:
        windows.append(window)
        window = Window(window.start + spec.step, window.end + spec.step)
    return windows


def run(tracker: WindowTracker, seconds: list[int]) -> list[list[Window]]:
    return [tracker.advance(T0 + timedelta(seconds=s)) for s in seconds]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SPECS), st.integers(0, 86_400), watermarks)
def test_each_window_closes_once_in_order_when_the_watermark_passes_it(
    spec: WindowSpec, start_s: int, seconds: list[int]
) -> None:
    start = T0 + timedelta(seconds=start_s)
    tracker = WindowTracker(spec, start=start)
    closed: list[Window] = []
    high = start - DAY
    for batch in run(tracker, seconds):
        closed.extend(batch)
    for s in seconds:
        high = max(high, T0 + timedelta(seconds=s))
    assert closed == due(spec, start, high)
    assert closed == sorted(set(closed))
    assert all(w.end > start for w in closed)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SPECS), watermarks)
def test_each_call_gives_the_windows_closed_since_the_last(
    spec: WindowSpec, seconds: list[int]
) -> None:
    tracker = WindowTracker(spec, start=T0)
    high = T0 - DAY
    for s, batch in zip(seconds, run(tracker, seconds), strict=True):
        previous, high = high, max(high, T0 + timedelta(seconds=s))
        assert batch == [w for w in due(spec, T0, high) if w.end + spec.allowed_lateness > previous]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SPECS), watermarks, st.data())
def test_a_restart_from_the_state_closes_the_same_windows(
    spec: WindowSpec, seconds: list[int], data: st.DataObject
) -> None:
    with_start = data.draw(st.booleans())
    cut = data.draw(st.integers(0, len(seconds)))
    uninterrupted = run(WindowTracker(spec, T0 if with_start else None), seconds)

    tracker = WindowTracker(spec, T0 if with_start else None)
    before = run(tracker, seconds[:cut])
    state = json.loads(json.dumps(tracker.to_state()))
    assert len(json.dumps(state)) < 60
    restarted = WindowTracker.from_state(spec, state)
    assert restarted.closed_until == tracker.closed_until
    assert before + run(restarted, seconds[cut:]) == uninterrupted


def test_without_start_tracking_begins_at_the_first_watermark() -> None:
    spec = WindowSpec(size=HOUR, allowed_lateness=timedelta(minutes=10))
    tracker = WindowTracker(spec)
    assert tracker.closed_until is None
    assert tracker.advance(at(9.5)) == []  # 09:20 is the horizon: up to 09:00 is not ours
    assert tracker.closed_until == at(9)
    assert tracker.advance(at(10.1)) == []
    assert tracker.advance(at(10 + 1 / 6)) == [Window(at(9), at(10))]
    assert tracker.advance(at(8)) == []  # a watermark going back changes nothing
    assert tracker.advance(at(12.5)) == [Window(at(10), at(11)), Window(at(11), at(12))]


def test_a_restart_with_another_spec_closes_nothing_twice() -> None:
    tracker = WindowTracker(WindowSpec(size=HOUR), start=T0)
    assert len(tracker.advance(at(6))) == 6
    daily = WindowTracker.from_state(WindowSpec(size=DAY), tracker.to_state())
    assert daily.advance(at(30)) == [Window(T0, T0 + DAY)]
    coarse = WindowTracker.from_state(WindowSpec(size=4 * HOUR), tracker.to_state())
    assert coarse.advance(at(12)) == [Window(at(4), at(8)), Window(at(8), at(12))]


@pytest.mark.parametrize(
    "state",
    [
        {"origin": 0},
        {"origin": 0, "closed_until": 3600, "next": 1},
        {"origin": "0", "closed_until": 3600},
        {"origin": None, "closed_until": 3600},
        {"origin": 7200, "closed_until": 3600},
    ],
)
def test_broken_states_are_rejected(state: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WindowTracker.from_state(WindowSpec(size=HOUR), state)


# -- late events ----------------------------------------------------------------------


def test_a_late_bucket_asks_to_correct_its_closed_window() -> None:
    spec = WindowSpec(size=HOUR, allowed_lateness=timedelta(minutes=10))
    tracker = WindowTracker(spec, start=at(8))
    tracker.advance(at(10.5))  # closes 08:00-09:00 and 09:00-10:00
    late = bucket_of(at(9.75), 900)
    assert tracker.corrections_for(late) == [Window(at(9), at(10))]
    assert tracker.is_closed(Window(at(9), at(10)))
    # Still open (10:00-11:00) or never tracked (before 08:00): nothing to correct.
    assert tracker.corrections_for(bucket_of(at(10.25), 900)) == []
    assert tracker.corrections_for(bucket_of(at(7.5), 900)) == []
    # Many late events: each closed window once, oldest first.
    buckets = [bucket_of(at(h), 900) for h in (9.75, 8.0, 9.5, 10.25, 8.25)]
    assert tracker.corrections_for(*buckets) == [Window(at(8), at(9)), Window(at(9), at(10))]


def test_a_late_bucket_in_hopping_windows_corrects_each_closed_one() -> None:
    spec = WindowSpec(size=DAY, hop=6 * HOUR)
    tracker = WindowTracker(spec, start=at(-48))
    tracker.advance(at(12))  # the last closed window is 12:00 the day before to 12:00
    corrections = tracker.corrections_for(bucket_of(at(3), 900))
    assert corrections == [Window(at(-18), at(6)), Window(at(-12), at(12))]
    assert all(tracker.is_closed(w) for w in corrections)
    assert tracker.corrections_for(bucket_of(at(7), 900)) == [Window(at(-12), at(12))]
    assert tracker.corrections_for(bucket_of(at(13), 900)) == []


def test_a_fresh_tracker_corrects_nothing() -> None:
    tracker = WindowTracker(WindowSpec(size=HOUR))
    assert tracker.corrections_for(bucket_of(at(1), 900)) == []


def test_a_far_watermark_closes_its_windows_as_a_range_of_numbers() -> None:
    spec = WindowSpec(size=timedelta(hours=1))
    tracker = WindowTracker(spec, start=datetime(2026, 3, 2, tzinfo=UTC))
    span = tracker.advance_indices(datetime(2090, 1, 1, tzinfo=UTC))
    assert len(span) > 500_000  # numbers only: no window objects built
    assert spec.window(span[0]).start == datetime(2026, 3, 2, tzinfo=UTC)
    assert spec.window(span[-1]).end <= datetime(2090, 1, 1, tzinfo=UTC) - spec.allowed_lateness
    assert not tracker.advance_indices(datetime(2090, 1, 1, tzinfo=UTC))
    assert list(spec.indices_for_bucket(4)) == [1]  # 01:00-01:15 lies in window 1


def test_closes_by_says_whether_a_watermark_closes_a_window_without_closing_it() -> None:
    spec = WindowSpec(size=timedelta(hours=1), allowed_lateness=timedelta(minutes=10))
    tracker = WindowTracker(spec, start=datetime(2026, 3, 2, 8, tzinfo=UTC))
    assert not tracker.closes_by(datetime(2026, 3, 2, 9, 9, tzinfo=UTC))
    assert tracker.closes_by(datetime(2026, 3, 2, 9, 10, tzinfo=UTC))
    assert tracker.closes_by(datetime(2026, 3, 2, 9, 10, tzinfo=UTC))  # nothing changed
    assert [w.start.hour for w in tracker.advance(datetime(2026, 3, 2, 9, 10, tzinfo=UTC))] == [8]
    assert not tracker.closes_by(datetime(2026, 3, 2, 9, 10, tzinfo=UTC))
    assert WindowTracker(spec).closes_by(datetime(2026, 3, 2, tzinfo=UTC))  # first watermark
