"""Cost of the detection stage per window update, and checkpoint size per series.

Feeds hourly windows of realistic counters (answers with a daily rhythm, detractors,
reasons, deliveries, late deliveries, exceptions) for ``--series`` segment series
through :class:`cxstream.detection.SeriesMonitor`, as the detection stage does when a
window closes, and prints:

- microseconds per series per window update (all watched KPIs of the series) and per
  KPI (one detector's score and learn);
- checkpoint size per series (JSON of all its detectors and reason baseline) and per
  KPI detector, after ``--days`` of hourly windows.

Run: ``python -m bench.bench_detection [--series 125] [--days 28]``. Targets: < 50 us per
series per window, < 4 KiB per series (KPI detector).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from datetime import UTC, datetime, timedelta

from cxstream.detection import SeriesMonitor
from cxstream.windows import Window

__all__ = ["main", "run"]


def _counters(rng: random.Random, t: datetime, scale: float) -> dict[str, float]:
    rhythm = 0.3 + 0.7 * max(0.0, math.sin(math.pi * (t.hour - 6) / 16))
    responses = rng.randint(0, int(80 * scale * rhythm) + 1)
    detractors = sum(rng.random() < 0.15 for _ in range(responses))
    promoters = sum(rng.random() < 0.55 for _ in range(responses - detractors))
    delivered = rng.randint(0, int(300 * scale * rhythm) + 1)
    c: dict[str, float] = {
        "responses": responses,
        "promoters": promoters,
        "detractors": detractors,
        "delivered": delivered,
        "delivered_late": sum(rng.random() < 0.05 for _ in range(delivered)),
        "shipped": delivered,
        "exceptions": sum(rng.random() < 0.01 for _ in range(delivered)),
    }
    for code, share in (("delivery_late", 0.05), ("price", 0.04), ("app_scan_failed", 0.01)):
        c[f"reason:{code}"] = sum(rng.random() < share for _ in range(responses))
    return c


def run(series: int, days: int, seed: int = 0) -> dict[str, float]:
    rng = random.Random(seed)
    monitor = SeriesMonitor()
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    ids = [f"country=C{i:03d}" for i in range(series)]
    scales = {sid: 0.3 + 2.0 * rng.random() for sid in ids}
    elapsed = 0.0
    updates = kpi_updates = 0
    for hour in range(days * 24):
        start = t0 + timedelta(hours=hour)
        window = Window(start, start + timedelta(hours=1))
        batch = [(sid, _counters(rng, start, scales[sid])) for sid in ids]
        began = time.perf_counter()
        for sid, counters in batch:
            kpi_updates += len(monitor.observe(sid, window, counters))
        elapsed += time.perf_counter() - began
        updates += len(batch)
    sizes = [len(json.dumps(monitor.to_state(sid), separators=(",", ":"))) for sid in ids]
    detectors = [len(monitor.to_state(sid)["detectors"]) for sid in ids]
    per_detector = [
        len(json.dumps(d, separators=(",", ":")))
        for sid in ids
        for d in monitor.to_state(sid)["detectors"].values()
    ]
    return {
        "series": series,
        "windows_per_series": days * 24,
        "us_per_series_window": 1e6 * elapsed / updates,
        "us_per_kpi_window": 1e6 * elapsed / max(1, kpi_updates),
        "kpis_per_series": sum(detectors) / len(detectors),
        "checkpoint_bytes_per_series_mean": sum(sizes) / len(sizes),
        "checkpoint_bytes_per_series_max": max(sizes),
        "checkpoint_bytes_per_kpi_max": max(per_detector),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=125)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    figures = run(args.series, args.days, args.seed)
    for name, value in figures.items():
        print(f"{name:36s} {value:12.1f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
