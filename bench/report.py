"""Benchmark report: the figures of all steps as one dict, printed as a table and a JSON line.

Targets are only compared against (``*_met``), never asserted.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from bench.memory import MemoryReport
from bench.steps import Round
from cxstream.config import Settings

__all__ = [
    "TARGET_RATIO",
    "TARGET_REPLAY_EPS",
    "TARGET_ROUND_TRIPS",
    "build_report",
    "print_report",
]

TARGET_RATIO = 1.0
TARGET_ROUND_TRIPS = 0.05
TARGET_REPLAY_EPS = 30_000.0


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _share(part: float | None, whole: float) -> float | None:
    return part / whole if part is not None and whole > 0 else None


def _met(value: float | None, target: float, higher_is_better: bool) -> bool | None:
    if value is None:
        return None
    return value >= target if higher_is_better else value <= target


def build_report(
    events: int,
    days: int,
    seed: int,
    rounds: list[Round],
    memory: MemoryReport,
    replays: dict[str, dict[str, Any]],
    settings: Settings,
) -> dict[str, Any]:
    bare = _median([r.bare_eps for r in rounds])
    cx = _median([r.cx_eps for r in rounds])
    ratio = _median([r.ratio for r in rounds])
    cpu_ratio = _median([r.cpu_ratio for r in rounds])
    bare_cpu = _median([r.bare_cpu_s for r in rounds])
    last = rounds[-1]
    received = max(1, last.received)
    rt = last.round_trips / received
    rt_all = (last.round_trips + last.script_checks) / received
    embedded = replays.get("embedded", {}).get("events_per_s")
    in_memory = replays.get("memory", {}).get("events_per_s")
    return {
        "events": events,
        "days": days,
        "seed": seed,
        "partitions": settings.partitions,
        "batch_size": settings.batch_size,
        "repeats": len(rounds),
        "bare_faust_eps": bare,
        "cxstream_eps": cx,
        "ratio": ratio,
        "ratio_target": TARGET_RATIO,
        "ratio_met": _met(ratio, TARGET_RATIO, True),
        "ratio_cpu": cpu_ratio,
        "bare_faust_cpu_us_per_event": _share(bare_cpu, events / 1e6),
        "round_trips_per_event": rt,
        "round_trips_per_event_target": TARGET_ROUND_TRIPS,
        "round_trips_per_event_met": _met(rt, TARGET_ROUND_TRIPS, False),
        "round_trips_per_event_incl_script_checks": rt_all,
        "round_trips_per_batch": last.round_trips / max(1, last.batches),
        "events_per_batch": received / max(1, last.batches),
        "redis_commands_per_event": sum(last.redis_calls.values()) / received,
        "worker_cpu_share": _share(last.worker_cpu_s, last.cx_elapsed_s),
        "redis_cpu_share": _share(last.redis_cpu_s, last.cx_elapsed_s),
        "worker_cpu_us_per_event": last.worker_cpu_us_per_event,
        "redis_cpu_us_per_event": _share(last.redis_cpu_s, last.cx_window_events / 1e6),
        "bytes_per_series": memory.bytes_per_series,
        "bytes_per_series_bucket": memory.bytes_per_bucket,
        "projected_bytes_per_series": memory.projected_bytes_per_series,
        "projected_bytes_per_series_at_observed_fill": memory.projected_bytes_at_fill,
        "series": memory.series,
        "bucket_seconds": memory.bucket_seconds,
        "retention_days": memory.retention_days,
        "bytes_per_order": memory.bytes_per_order,
        "bytes_per_dedup_event": memory.bytes_per_seen_id,
        "bytes_per_customer": memory.bytes_per_customer,
        "redis_used_memory_bytes": memory.used_memory,
        "replay_eps_embedded": embedded,
        "replay_eps_embedded_target": TARGET_REPLAY_EPS,
        "replay_eps_embedded_met": _met(embedded, TARGET_REPLAY_EPS, True),
        "replay_eps_embedded_per_cpu_s": replays.get("embedded", {}).get("events_per_cpu_s"),
        "replay_eps_memory": in_memory,
        "replay_eps_memory_per_cpu_s": replays.get("memory", {}).get("events_per_cpu_s"),
        "replay_pinned_to_one_core": any(r.get("pinned") for r in replays.values()),
        "rounds": [
            {
                "bare_faust_eps": r.bare_eps,
                "bare_faust_s": r.bare_elapsed_s,
                "cxstream_eps": r.cx_eps,
                "cxstream_s": r.cx_elapsed_s,
                "ratio": r.ratio,
                "bare_faust_cpu_s": r.bare_cpu_s,
                "ratio_cpu": r.cpu_ratio,
                "received": r.received,
                "accepted": r.accepted,
                "duplicates": r.duplicates,
                "dead_lettered": r.dead_lettered,
                "batches": r.batches,
                "redis_round_trips": r.round_trips,
                "redis_script_checks": r.script_checks,
                "worker_cpu_s": r.worker_cpu_s,
                "redis_cpu_s": r.redis_cpu_s,
            }
            for r in rounds
        ],
    }


def print_report(report: dict[str, Any], rounds: list[Round]) -> None:
    def verdict(key: str) -> str:
        met = report.get(f"{key}_met")
        return "-" if met is None else ("met" if met else "NOT met")

    rows: list[tuple[str, str, str, str]] = [
        ("events in the stream", _fmt(report["events"]), "", ""),
        ("(a) bare Faust, events/s", _fmt(report["bare_faust_eps"]), "", ""),
        ("(b) cxstream worker, events/s", _fmt(report["cxstream_eps"]), "", ""),
        (
            "ratio b/a" + (" (median of repeats)" if report["repeats"] > 1 else ""),
            _fmt(report["ratio"], 2),
            ">= 1.00",
            verdict("ratio"),
        ),
        (
            "  by CPU time (a CPU/event over b CPU/event)",
            _fmt(report["ratio_cpu"], 2),
            "",
            "",
        ),
        ("  (a) CPU, us per event", _fmt(report["bare_faust_cpu_us_per_event"]), "", ""),
        (
            "Redis round trips per event",
            _fmt(report["round_trips_per_event"], 4),
            "<= 0.05",
            verdict("round_trips_per_event"),
        ),
        (
            "  incl. SCRIPT EXISTS checks",
            _fmt(report["round_trips_per_event_incl_script_checks"], 4),
            "",
            "",
        ),
        ("  events per batch", _fmt(report["events_per_batch"], 1), "", ""),
        ("  round trips per batch", _fmt(report["round_trips_per_batch"], 2), "", ""),
        ("  Redis commands per event", _fmt(report["redis_commands_per_event"], 2), "", ""),
        (
            "  worker CPU, us per event (share of a core)",
            f"{_fmt(report['worker_cpu_us_per_event'])} ({_fmt(report['worker_cpu_share'], 2)})",
            "",
            "",
        ),
        (
            "  Redis CPU, us per event (share of a core)",
            f"{_fmt(report['redis_cpu_us_per_event'])} ({_fmt(report['redis_cpu_share'], 2)})",
            "",
            "",
        ),
        ("segment series", _fmt(report["series"]), "", ""),
        ("bytes per series (stream span)", _fmt(report["bytes_per_series"]), "", ""),
        ("bytes per series per bucket", _fmt(report["bytes_per_series_bucket"]), "", ""),
        (
            f"projected bytes/series, {report['retention_days']:g} d of "
            f"{report['bucket_seconds']} s buckets",
            _fmt(report["projected_bytes_per_series"]),
            "",
            "",
        ),
        (
            "  same, at the observed bucket fill",
            _fmt(report["projected_bytes_per_series_at_observed_fill"]),
            "",
            "",
        ),
        ("bytes per order state", _fmt(report["bytes_per_order"]), "", ""),
        ("bytes per event id (dedup sets)", _fmt(report["bytes_per_dedup_event"], 1), "", ""),
        ("bytes per customer profile", _fmt(report["bytes_per_customer"]), "", ""),
        (
            "replay events/s, embedded Redis"
            + (" (1 core)" if report["replay_pinned_to_one_core"] else ""),
            _fmt(report["replay_eps_embedded"]),
            ">= 30,000",
            verdict("replay_eps_embedded"),
        ),
        (
            "  per CPU second (replay + its Redis, incl. startup)",
            _fmt(report["replay_eps_embedded_per_cpu_s"]),
            "",
            "",
        ),
        ("replay events/s, in-memory store", _fmt(report["replay_eps_memory"]), "", ""),
        (
            "  per CPU second (incl. startup)",
            _fmt(report["replay_eps_memory_per_cpu_s"]),
            "",
            "",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'figure':<{width}}  {'value':>14}  {'target':>10}  result")
    print("-" * (width + 36))
    for name, value, target, result in rows:
        print(f"{name:<{width}}  {value:>14}  {target:>10}  {result}")
    if len(rounds) > 1:
        print("\nper repeat (a events/s, b events/s, b/a):")
        for i, r in enumerate(rounds, 1):
            print(f"  {i}: {_fmt(r.bare_eps)}  {_fmt(r.cx_eps)}  {_fmt(r.ratio, 2)}")
    print()
    summary = {k: v for k, v in report.items() if k != "rounds"}
    print(json.dumps(summary, separators=(",", ":")))
