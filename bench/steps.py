"""Benchmark steps: each runs one measured process and returns its figures.

- :func:`run_bare`: the bare Faust baseline (``bench.bare_faust``), events/s and CPU time
  over its count window.
- :func:`run_worker`: the cxstream worker until it has processed every event; events/s,
  Redis round trips, Redis commands and CPU time, as a :class:`Round`.
- :func:`run_replay`: ``cxstream replay`` over the event file, wall and CPU time.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from cxstream.config import Settings
from cxstream.worker_process import ChildProcess, WorkerProcess

__all__ = ["BenchError", "Round", "delete_prefix", "run_bare", "run_replay", "run_worker"]

_POLL_S = 0.1


class BenchError(RuntimeError):
    """A benchmark step cannot be run (a tool it needs is missing)."""


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


def run_replay(
    path: Path, store: str, work: Path, pin: bool, timeout: float, rules: Path | None = None
) -> dict[str, Any]:
    """Time ``cxstream replay`` over ``path``; return its summary plus the wall time."""
    out = work / f"replay-{store}"
    argv = [sys.executable, "-m", "cxstream", "replay", str(path), "--out", str(out)]
    argv += ["--store", store, "--no-progress"]
    if rules is not None:
        argv += ["--rules", str(rules)]
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
