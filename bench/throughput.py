"""End-to-end throughput benchmark: cxstream worker vs. a bare Faust agent, plus replay speed.

One run, on one broker and one pre-produced stream (``--days`` of the synthetic
shop from :mod:`cxstream.generator`, ~26k events per day):

a) ``bench.bare_faust``: a Faust app that only deserialises the values into
   ``faust.Record`` models and counts them; events/s from its first to its last event.
b) the cxstream worker (``python -m cxstream worker``) doing all of its work (decode,
   validate, dedup, order state, segment counters in Redis); events/s from the first
   to the last event it has fully processed, read from its ``/stats/`` page, and its
   Redis round trips per event.

Both consume the same topics with consumer groups of their own, one after the other.
Then it measures Redis memory per segment series (and per order and per event id)
from the worker's keys, and the events/s of ``cxstream replay`` over the same file
(``--store embedded`` and ``--store memory``, pinned to one core when ``taskset`` is
available). Figures are printed as a table and as one JSON line; the targets are only
compared against, never asserted.

Run: ``python -m bench.throughput --days 8 --seed 7 [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import redis

from bench.memory import MemoryReport, measure_memory
from cxstream.config import Settings, TopicNames
from cxstream.embedded import EmbeddedKafka, EmbeddedRedis
from cxstream.generator import GeneratorConfig, generate_events, write_jsonl
from cxstream.producing import produce_files
from cxstream.worker_process import ChildProcess, WorkerProcess, WorkerProcessError

__all__ = ["main"]

TARGET_RATIO = 1.0
TARGET_ROUND_TRIPS = 0.05
TARGET_REPLAY_EPS = 30_000.0

_POLL_S = 0.1


class BenchError(RuntimeError):
    """A benchmark step cannot be run (a tool it needs is missing)."""


# --------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Round:
    """Figures of one repeat."""

    bare_eps: float | None = None
    bare_elapsed_s: float | None = None
    bare_cpu_s: float | None = None
    cx_eps: float = 0.0
    cx_elapsed_s: float = 0.0
    cx_window_events: int = 0
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    round_trips: int = 0
    script_checks: int = 0
    redis_calls: dict[str, int] = field(default_factory=dict)
    worker_cpu_s: float | None = None
    redis_cpu_s: float | None = None

    @property
    def ratio(self) -> float | None:
        return self.cx_eps / self.bare_eps if self.bare_eps else None

    @property
    def cpu_ratio(self) -> float | None:
        """Bare CPU per event over worker CPU per event, each over its timed window."""
        if not self.bare_cpu_s or not self.worker_cpu_s or not self.cx_window_events:
            return None
        return (self.bare_cpu_s / self.received) / (self.worker_cpu_s / self.cx_window_events)

    @property
    def worker_cpu_us_per_event(self) -> float | None:
        if self.worker_cpu_s is None or not self.cx_window_events:
            return None
        return self.worker_cpu_s / self.cx_window_events * 1e6


def run_bare(
    settings: Settings, expect: int, group: str, work: Path, timeout: float
) -> tuple[float, float, float]:
    """Run the bare Faust baseline; return (events/s, seconds, CPU seconds) over the count
    window."""
    result = work / f"{group}.json"
    names = settings.topics
    argv = [
        sys.executable,
        "-m",
        "bench.bare_faust",
        "--broker",
        settings.broker,
        "--topics",
        f"{names.feedback},{names.logistics},{names.customers}",
        "--expect",
        str(expect),
        "--group",
        group,
        "--result",
        str(result),
        "--datadir",
        str(work / f"{group}-data"),
    ]
    child = ChildProcess(argv, log_path=work / f"{group}.log", name="bare faust", env=_child_env())
    with child:
        deadline = time.monotonic() + timeout
        while not result.exists():
            if not child.running:
                raise child.failure(f"exited with code {child.returncode}")
            if time.monotonic() > deadline:
                raise child.failure(f"did not count {expect} events within {timeout:.0f}s")
            time.sleep(0.2)
    body = json.loads(result.read_text())
    return float(body["events_per_s"]), float(body["elapsed_s"]), float(body["cpu_s"])


def _python_path() -> dict[str, str]:
    """``PYTHONPATH`` with this checkout first, so that children import its packages."""
    root = str(Path(__file__).resolve().parent.parent)
    return {"PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}


def _child_env() -> dict[str, str]:
    return {**os.environ, **_python_path()}


def _process_cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) used so far by process ``pid``, where /proc has them."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _redis_cpu_s(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")  # type: ignore[assignment]
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _command_calls(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, Any] = client.info("commandstats")  # type: ignore[assignment]
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def run_worker(
    settings: Settings,
    expect: int,
    group: str,
    prefix: str,
    work: Path,
    timeout: float,
    redis_client: redis.Redis,
    profile: Path | None,
) -> Round:
    """Run the cxstream worker until it has processed ``expect`` events; return its figures."""
    worker_settings = settings.model_copy(
        update={
            "key_prefix": prefix,
            "app_id": group,
            "session_timeout_s": 2.0,
            "rebalance_timeout_s": 4.0,
            "log_level": "warning",
        }
    )
    calls_before = _command_calls(redis_client)
    worker = WorkerProcess(worker_settings, work, group, extra_env=_python_path())
    spy: ChildProcess | None = None
    with worker:
        if profile is not None:
            spy = _start_py_spy(worker, profile, work)
        try:
            stats = worker.wait_until(
                lambda s: bool(s.get("ready")) and _processed(s) > 0,
                timeout,
                "the first processed event",
                poll_s=_POLL_S,
            )
            t0, n0 = time.perf_counter(), _processed(stats)
            cpu0, redis_cpu0 = _process_cpu_s(worker.pid), _redis_cpu_s(redis_client)
            stats = worker.wait_until(
                lambda s: _processed(s) >= expect and not s.get("held"),
                timeout,
                f"all {expect} events processed, none held",
                poll_s=_POLL_S,
            )
            end = time.perf_counter()
            cpu1, redis_cpu1 = _process_cpu_s(worker.pid), _redis_cpu_s(redis_client)
        finally:
            if spy is not None:
                spy.stop(60.0, sig=signal.SIGINT)
    calls_after = _command_calls(redis_client)
    calls = {k: v - calls_before.get(k, 0) for k, v in calls_after.items()}
    calls = {k: v for k, v in calls.items() if v > 0}
    elapsed = end - t0
    done = _processed(stats)
    return Round(
        cx_eps=(done - n0) / elapsed if elapsed > 0 else 0.0,
        cx_elapsed_s=elapsed,
        cx_window_events=done - n0,
        received=int(stats["received"]),
        accepted=int(stats["accepted"]),
        duplicates=int(stats["duplicates"]),
        dead_lettered=int(stats["dead_lettered"]),
        batches=int(stats["batches"]),
        round_trips=int(stats["redis_round_trips"]),
        script_checks=sum(v for k, v in calls.items() if k.split("|")[0] == "script"),
        redis_calls=calls,
        worker_cpu_s=cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None,
        redis_cpu_s=redis_cpu1 - redis_cpu0,
    )


def _processed(stats: dict[str, Any]) -> int:
    return sum(int(stats.get(name, 0)) for name in ("accepted", "duplicates", "dead_lettered"))


def _start_py_spy(worker: WorkerProcess, out: Path, work: Path) -> ChildProcess:
    exe = shutil.which("py-spy")
    if exe is None:
        raise BenchError("--profile-worker needs py-spy on PATH (pip install py-spy)")
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(out.suffix, "raw")
    argv = [exe, "record", "--pid", str(worker.pid), "--rate", "97", "--format", fmt]
    return ChildProcess([*argv, "-o", str(out)], log_path=work / "py-spy.log").start()


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    """Remove every key under ``prefix`` (the benchmark's own keys only)."""
    batch: list[str] = []
    for key in client.scan_iter(match=f"{prefix}:*", count=2000):
        batch.append(key)
        if len(batch) >= 2000:
            client.unlink(*batch)
            batch.clear()
    if batch:
        client.unlink(*batch)


def _children_cpu_s() -> float:
    """CPU seconds of all waited-for descendants so far (a replay and its own Redis)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_replay(path: Path, store: str, work: Path, pin: bool, timeout: float) -> dict[str, Any]:
    """Time ``cxstream replay`` over ``path``; return its summary plus the wall time."""
    out = work / f"replay-{store}"
    argv = [sys.executable, "-m", "cxstream", "replay", str(path), "--out", str(out)]
    argv += ["--store", store, "--no-progress"]
    taskset = shutil.which("taskset") if pin else None
    if taskset:
        argv = [taskset, "-c", "0", *argv]
    started = time.perf_counter()
    cpu_before = _children_cpu_s()
    log_path = work / f"replay-{store}.log"
    child = ChildProcess(argv, log_path=log_path, name=f"replay --store {store}", env=_child_env())
    with child:
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise child.failure(f"did not finish within {timeout:.0f}s") from exc
        wall = time.perf_counter() - started
        if code != 0:
            raise child.failure(f"exited with code {code}")
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    summary["wall_s"] = wall
    cpu = _children_cpu_s() - cpu_before
    summary["cpu_s"] = cpu
    summary["events_per_cpu_s"] = summary["events_read"] / cpu if cpu > 0 else None
    summary["pinned"] = bool(taskset)
    summary["line"] = child.log_tail(1)
    return summary


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.throughput", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--days", type=int, default=8, help="days of synthetic events (8 ≈ 210k)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="runs of (a) and (b); medians")
    parser.add_argument("--kafka", default=None, help="external broker host:port (else embedded)")
    parser.add_argument("--redis-url", default=None, help="external Redis URL (else embedded)")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--skip-bare", action="store_true", help="do not run the Faust baseline")
    parser.add_argument("--skip-replay", action="store_true", help="do not time cxstream replay")
    parser.add_argument("--no-pin", action="store_true", help="do not pin replay to one core")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per step")
    parser.add_argument(
        "--profile-worker",
        type=Path,
        default=None,
        help="record the worker with py-spy into this file (.svg, .json speedscope, else raw); "
        "sampling slows the worker, so do not quote the figures of such a run",
    )
    parser.add_argument("--json-out", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    run_id = uuid.uuid4().hex[:8]
    try:
        with contextlib.ExitStack() as stack:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cxbench-")))
            if args.kafka:
                broker = args.kafka
            else:
                _say("starting embedded Kafka-compatible broker")
                broker = stack.enter_context(EmbeddedKafka()).bootstrap
            if args.redis_url:
                redis_url = args.redis_url
            else:
                _say("starting embedded Redis")
                redis_url = stack.enter_context(EmbeddedRedis()).url
            client = redis.Redis.from_url(redis_url, decode_responses=True)
            stack.callback(client.close)
            topics = TopicNames(
                feedback=f"bench-{run_id}.feedback",
                logistics=f"bench-{run_id}.logistics",
                customers=f"bench-{run_id}.customers",
                deadletter=f"bench-{run_id}.deadletter",
            )
            settings = Settings(
                broker=broker, redis_url=redis_url, partitions=args.partitions, topics=topics
            )
            return _run(args, run_id, work, settings, client)
    except KeyboardInterrupt:
        _say("interrupted; stopped every process this run started")
        return 130
    except (BenchError, WorkerProcessError) as exc:
        _say(f"failed: {exc}")
        return 1


def _run(
    args: argparse.Namespace,
    run_id: str,
    work: Path,
    settings: Settings,
    client: redis.Redis,
) -> int:
    path = work / "events.jsonl"
    _say(f"generating {args.days} days of events (seed {args.seed})")
    write_jsonl(generate_events(GeneratorConfig(days=args.days, seed=args.seed)), path)
    _say(f"producing to {settings.broker} ({settings.partitions} partitions per topic)")
    started = time.perf_counter()
    produced = asyncio.run(produce_files([path], settings))
    events = sum(produced.sent.values())
    _say(f"produced {events} events in {time.perf_counter() - started:.1f}s: {produced.sent}")
    if produced.dead_lettered:
        _say(f"{produced.dead_lettered} lines could not be routed (dead-letter topic)")

    rounds: list[Round] = []
    prefixes: list[str] = []
    memory: MemoryReport | None = None
    try:
        for i in range(1, args.repeat + 1):
            bare: tuple[float, float, float] | None = None
            if not args.skip_bare:
                _say(f"[{i}/{args.repeat}] (a) bare Faust agent")
                bare = run_bare(settings, events, f"bench-{run_id}-bare-{i}", work, args.timeout)
                _say(f"    {bare[0]:,.0f} events/s over {bare[1]:.2f}s")
            _say(f"[{i}/{args.repeat}] (b) cxstream worker")
            prefix = f"bench{run_id}r{i}"
            prefixes.append(prefix)
            result = run_worker(
                settings,
                events,
                f"bench-{run_id}-cx-{i}",
                prefix,
                work,
                args.timeout,
                client,
                args.profile_worker if i == args.repeat else None,
            )
            if bare is not None:
                result.bare_eps, result.bare_elapsed_s, result.bare_cpu_s = bare
            rounds.append(result)
            _say(
                f"    {result.cx_eps:,.0f} events/s over {result.cx_elapsed_s:.2f}s, "
                f"{result.round_trips} round trips in {result.batches} batches"
            )
            if i == args.repeat:
                _say("measuring Redis memory of the worker's keys")
                memory = measure_memory(client, prefix, settings)
            delete_prefix(client, prefix)
    finally:
        for prefix in prefixes:
            with contextlib.suppress(redis.RedisError):
                delete_prefix(client, prefix)
    assert memory is not None

    replays: dict[str, dict[str, Any]] = {}
    if not args.skip_replay:
        for store in ("embedded", "memory"):
            _say(f"cxstream replay --store {store}")
            replays[store] = run_replay(path, store, work, not args.no_pin, args.timeout)
            _say(f"    {replays[store]['line']}")

    report = build_report(events, args.days, args.seed, rounds, memory, replays, settings)
    report["calls_per_command"] = dict(
        sorted(rounds[-1].redis_calls.items(), key=lambda kv: -kv[1])
    )
    print_report(report, rounds)
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
