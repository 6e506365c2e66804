"""Protocol conformance, score range and state round trip of every detector."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.detectors import (
    CountDetector,
    DefaultDetector,
    DefaultDetectorConfig,
    Detector,
    LevelShiftDetector,
    RangeNovelty,
    RateDetector,
    SeasonalBaseline,
)

T0 = datetime(2026, 3, 2, tzinfo=UTC)
STATE_LIMIT = 4096

VALUE_DETECTORS: dict[str, Callable[[], Any]] = {
    "seasonal": SeasonalBaseline,
    "level_shift": LevelShiftDetector,
    "novelty": RangeNovelty,
    "default": DefaultDetector,
}
COUNT_DETECTORS: dict[str, Callable[[], Any]] = {
    "rate": RateDetector,
    "default": DefaultDetector,
}


def series(n: int, seed: int = 1) -> list[tuple[float, datetime]]:
    """A seasonal, noisy series with a few spikes and a level shift."""
    out = []
    state = seed
    for i in range(n):
        state = (state * 1103515245 + 12345) % 2**31
        noise = state / 2**31 - 0.5
        t = T0 + timedelta(minutes=30 * i)
        x = 20 + 5 * math.sin(2 * math.pi * (t.hour + t.minute / 60) / 24) + 2 * noise
        if i % 97 == 0:
            x += 15
        if i > n // 2:
            x += 4
        out.append((x, t))
    return out


def counts(n: int) -> list[tuple[int, int, datetime]]:
    out = []
    for i in range(n):
        trials = 50 + (i * 37) % 400
        out.append(((trials * (17 + i % 7)) // 100, trials, T0 + timedelta(hours=i)))
    return out


@pytest.mark.parametrize("name", sorted(VALUE_DETECTORS))
def test_value_detectors_conform(name: str) -> None:
    det = VALUE_DETECTORS[name]()
    assert isinstance(det, Detector)


@pytest.mark.parametrize("name", sorted(COUNT_DETECTORS))
def test_count_detectors_conform(name: str) -> None:
    det = COUNT_DETECTORS[name]()
    assert isinstance(det, CountDetector)


@pytest.mark.parametrize("name", sorted(VALUE_DETECTORS))
def test_scores_in_unit_interval_and_state_round_trip(name: str) -> None:
    det = VALUE_DETECTORS[name]()
    data = series(1500)
    for x, t in data[:1000]:
        s = det.score_one(x, t)
        assert 0.0 <= s <= 1.0
        det.learn_one(x, t)
    text = json.dumps(det.to_state())
    assert len(text.encode()) < STATE_LIMIT
    clone = type(det).from_state(json.loads(text))
    for x, t in data[1000:]:
        assert clone.score_one(x, t) == det.score_one(x, t)
        det.learn_one(x, t)
        clone.learn_one(x, t)
    assert json.dumps(clone.to_state()) == json.dumps(det.to_state())


@pytest.mark.parametrize("name", sorted(COUNT_DETECTORS))
def test_count_scores_in_unit_interval_and_state_round_trip(name: str) -> None:
    det = COUNT_DETECTORS[name]()
    data = counts(400)
    for k, n, t in data[:300]:
        s = det.score_counts(k, n, t)
        assert 0.0 <= s <= 1.0
        det.learn_counts(k, n, t)
    text = json.dumps(det.to_state())
    assert len(text.encode()) < STATE_LIMIT
    clone = type(det).from_state(json.loads(text))
    for k, n, t in data[300:]:
        assert clone.score_counts(k, n, t) == det.score_counts(k, n, t)
        det.learn_counts(k, n, t)
        clone.learn_counts(k, n, t)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=1, max_size=120)
)
def test_default_scores_bounded_for_arbitrary_values(values: list[float]) -> None:
    det = DefaultDetector()
    for i, x in enumerate(values):
        t = T0 + timedelta(hours=i)
        s = det.score_one(x, t)
        assert 0.0 <= s <= 1.0
        det.learn_one(x, t)


def test_naive_timestamps_are_rejected() -> None:
    det = DefaultDetector()
    with pytest.raises(ValueError, match="timezone-aware"):
        det.score_one(1.0, datetime(2026, 3, 2))


def test_hour_of_day_follows_the_timestamp_offset() -> None:
    det = SeasonalBaseline()
    berlin = timezone(timedelta(hours=1))
    assert det._bins(datetime(2026, 3, 2, 10, tzinfo=berlin)) == (10, 0)


def test_config_is_frozen_and_strict() -> None:
    config = DefaultDetectorConfig()
    with pytest.raises(ValueError, match="frozen"):
        config.cooldown = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="extra"):
        DefaultDetectorConfig(unknown=1)  # type: ignore[call-arg]


def test_state_of_long_series_stays_small() -> None:
    det = DefaultDetector()
    for x, t in series(6000):
        det.score_one(x, t)
        det.learn_one(x, t)
    for k, n, t in counts(100):
        det.learn_counts(k, n, t + timedelta(days=200))
    assert len(json.dumps(det.to_state()).encode()) < STATE_LIMIT
