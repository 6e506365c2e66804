"""Cost per point and state size of the online detectors.

Streams a synthetic seasonal KPI series (5-minute windows with noise, spikes and a
level shift) through each detector, calling ``score_one`` then ``learn_one`` for
every point as the engine does, and prints microseconds per point and the size of
the JSON-serialised state. Run: ``python bench/bench_detectors.py [--points N]``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cxstream.detectors import (
    DefaultDetector,
    LevelShiftDetector,
    RangeNovelty,
    RateDetector,
    SeasonalBaseline,
)

__all__ = ["bench_counts", "bench_values", "main"]


def _series(n: int, seed: int) -> list[tuple[float, datetime]]:
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    out = []
    for i in range(n):
        t = t0 + timedelta(minutes=5 * i)
        x = 40.0 + 8.0 * math.sin(2 * math.pi * (t.hour * 60 + t.minute) / 1440)
        x += rng.gauss(0.0, 1.5) + (25.0 if rng.random() < 0.002 else 0.0)
        x += 6.0 if i > n // 2 else 0.0
        out.append((x, t))
    return out


def bench_values(factory: Callable[[], Any], n: int, seed: int = 0) -> tuple[float, int]:
    """Microseconds per point (score then learn) and state size in bytes."""
    data = _series(n, seed)
    det = factory()
    start = time.perf_counter()
    for x, t in data:
        det.score_one(x, t)
        det.learn_one(x, t)
    elapsed = time.perf_counter() - start
    return 1e6 * elapsed / n, len(json.dumps(det.to_state()).encode())


def bench_counts(factory: Callable[[], Any], n: int, seed: int = 0) -> tuple[float, int]:
    """Same as :func:`bench_values` for ``score_counts``/``learn_counts``."""
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    data = []
    for _ in range(n):
        trials = rng.randint(0, 2000)
        data.append((sum(rng.random() < 0.2 for _ in range(trials // 50)) * 50, trials))
    det = factory()
    start = time.perf_counter()
    for i, (k, m) in enumerate(data):
        t = t0 + timedelta(hours=i)
        det.score_counts(min(k, m), m, t)
        det.learn_counts(min(k, m), m, t)
    elapsed = time.perf_counter() - start
    return 1e6 * elapsed / n, len(json.dumps(det.to_state()).encode())


def main(argv: list[str] | None = None) -> int:
    """Print a table of cost per point and state size per detector."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--points", type=int, default=50_000)
    args = parser.parse_args(argv)
    print(f"{'detector':<28}{'us/point':>10}{'state bytes':>14}")
    value_detectors: dict[str, Callable[[], Any]] = {
        "DefaultDetector": DefaultDetector,
        "SeasonalBaseline": SeasonalBaseline,
        "LevelShiftDetector": LevelShiftDetector,
        "RangeNovelty": RangeNovelty,
    }
    for name, factory in value_detectors.items():
        us, size = bench_values(factory, args.points)
        print(f"{name:<28}{us:>10.1f}{size:>14}")
    count_detectors: dict[str, Callable[[], Any]] = {
        "DefaultDetector (counts)": DefaultDetector,
        "RateDetector (counts)": RateDetector,
    }
    for name, factory in count_detectors.items():
        us, size = bench_counts(factory, args.points // 5)
        print(f"{name:<28}{us:>10.1f}{size:>14}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
