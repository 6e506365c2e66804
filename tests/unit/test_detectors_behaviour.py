"""Behaviour of the detectors on the situations the product cares about."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from cxstream.detectors import (
    DefaultDetector,
    DefaultDetectorConfig,
    RateDetector,
    SeasonalBaseline,
)

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def noise(i: int) -> float:
    """Deterministic pseudo-noise in [-0.5, 0.5)."""
    return ((i * 2654435761) % 2**32) / 2**32 - 0.5


def warm_rate_detector() -> RateDetector:
    det = RateDetector()
    for i in range(90):
        trials = 3000 + (i * 131) % 2000
        share = 0.20 + 0.004 * noise(i)
        det.learn_counts(round(share * trials), trials, T0 + timedelta(days=i))
    return det


def test_rate_small_volume_with_one_bad_answer_scores_low() -> None:
    det = warm_rate_detector()
    t = T0 + timedelta(days=90)
    assert det.score_counts(1, 4, t) < 0.1
    assert det.score_counts(3, 4, t) < 0.6


def test_rate_large_volume_with_three_point_shift_scores_high() -> None:
    det = warm_rate_detector()
    t = T0 + timedelta(days=90)
    assert det.score_counts(920, 4000, t) > 0.6
    assert det.score_counts(800, 4000, t) < 0.1


def test_rate_allows_for_natural_variation_beyond_sampling_noise() -> None:
    det = RateDetector()
    for i in range(90):  # share wanders by +-3 points at 50,000 answers a day
        share = 0.20 + 0.06 * noise(i)
        det.learn_counts(round(share * 50_000), 50_000, T0 + timedelta(days=i))
    assert det.score_counts(10_700, 50_000, T0 + timedelta(days=90)) < 0.5


def test_default_counts_need_volume_and_unusualness() -> None:
    det = DefaultDetector()
    for i in range(24 * 30):
        trials = 4000
        det.learn_counts(round((0.2 + 0.004 * noise(i)) * trials), trials, T0 + timedelta(hours=i))
    t = T0 + timedelta(days=30)
    assert det.score_counts(1, 4, t) < 0.2
    assert det.score_counts(920, 4000, t) > 0.6


def daily_kpi(t: datetime, i: int) -> float:
    evening = 25.0 if 18 <= t.hour <= 21 else 0.0
    return 50.0 + evening + 2.0 * noise(i)


def test_seasonal_learns_daily_pattern() -> None:
    det = SeasonalBaseline()
    for i in range(24 * 21):
        t = T0 + timedelta(hours=i)
        det.learn_one(daily_kpi(t, i), t)
    assert det.seasonal
    for day in range(21, 24):
        peak = T0 + timedelta(days=day, hours=19)
        assert det.score_one(daily_kpi(peak, day), peak) < 0.3
    night = T0 + timedelta(days=21, hours=3)
    assert det.score_one(75.0, night) > 0.8
    default = DefaultDetector()
    for i in range(24 * 21):
        t = T0 + timedelta(hours=i)
        default.score_one(daily_kpi(t, i), t)
        default.learn_one(daily_kpi(t, i), t)
    peak = night + timedelta(hours=16)
    assert default.score_one(daily_kpi(peak, 5), peak) < 0.3
    assert default.score_one(75.0, night) > 0.8


def run_incident(config: DefaultDetectorConfig, length: int) -> tuple[list[float], DefaultDetector]:
    det = DefaultDetector(config)
    scores = []
    for i in range(24 * 28 + length):
        t = T0 + timedelta(hours=i)
        x = 10.0 + math.sin(i / 3.8) + noise(i)
        if i >= 24 * 28:
            x += 8.0
        scores.append(det.score_one(x, t))
        det.learn_one(x, t)
    return scores[24 * 28 :], det


def test_long_incident_keeps_scoring_high() -> None:
    scores, det = run_incident(DefaultDetectorConfig(cooldown=0), 150)
    assert min(scores) > 0.8
    damped, det = run_incident(DefaultDetectorConfig(), 150)
    factor = DefaultDetectorConfig().cooldown_factor
    assert damped[0] > 0.8
    # raised once, then reported as still elevated for as long as it lasts
    assert min(damped[1:]) > 0.8 * factor
    t = T0 + timedelta(hours=24 * 28 + 150)
    assert det.p_value(18.0 + math.sin((24 * 28 + 150) / 3.8), t) < 1e-4


def test_alarm_again_after_the_incident_is_over() -> None:
    det = DefaultDetector()
    scores = []
    for i in range(24 * 40):
        t = T0 + timedelta(hours=i)
        x = 10.0 + math.sin(i / 3.8) + noise(i)
        if i in (24 * 28, 24 * 35):
            x += 12.0
        scores.append(det.score_one(x, t))
        det.learn_one(x, t)
    assert scores[24 * 28] > 0.8
    assert scores[24 * 35] > 0.5


def test_permanent_change_becomes_the_new_normal() -> None:
    config = DefaultDetectorConfig()
    scores, _ = run_incident(config, 3 * config.adapt_after)
    tail = scores[-config.adapt_after :]
    assert sum(s > 0.5 for s in tail) <= 0.02 * len(tail)
    assert sum(tail) / len(tail) < 0.1
