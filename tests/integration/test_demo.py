"""Tests of ``cxstream demo``: it runs the whole pipeline and leaves nothing behind.

The integration tests run the demo in a subprocess (without ``CXSTREAM_*`` variables,
so it starts its own embedded broker and Redis), read the child process ids it prints,
and check that none of them is alive afterwards. One fast test checks that the live
figures, which re-read only recent buckets, add up to what a full read gives.
"""

from __future__ import annotations

import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cxstream.demo_figures import LiveFigures
from cxstream.figures import figures_from_counters, sum_counters

__all__: list[str] = []

_NO_FOLLOW = (
    "import sys\n"
    "from cxstream.config import Settings\n"
    "from cxstream.demo import run_demo\n"
    "sys.exit(run_demo(Settings(), days=1, seed=11, rate=20000.0, follow=False))\n"
)
_PID = re.compile(r"\bpid (\d+)\b")
_DONE = re.compile(r"done: produced (\d+) events, worker processed (\d+)")
_COUNTRY_ROW = re.compile(r"^\s*(DE|FR|NL|AT|CH|PL)\s+[\d,]+\s+-?\d+\.\d\s+\d+\.\d%", re.MULTILINE)


def _remove_logs(output: str) -> None:
    """Delete the log directory the demo kept (it names it in its last line)."""
    if match := re.search(r"logs are in (\S+)", output):
        shutil.rmtree(match[1], ignore_errors=True)


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def _assert_all_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 5.0
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in pids if _alive(pid)] == []


class _Lines:
    """Reads a child's stdout in a thread so that the test can wait for a line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self._stdout = process.stdout
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        try:
            for line in self._stdout:
                self._queue.put(line)
        except (OSError, ValueError):  # closed by the fixture after a failure
            pass
        finally:
            self._queue.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if match := pattern.search(line):
                return match
        raise AssertionError(f"no line matching {pattern.pattern!r}:\n{''.join(self.seen)}")

    def rest(self) -> str:
        while (line := self._queue.get(timeout=30.0)) is not None:
            self.seen.append(line)
        return "".join(self.seen)


def _get(url: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def demo_process() -> Iterator[list[subprocess.Popen[str]]]:
    """Holds the demo processes a test starts and kills any the test left running."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.integration
def test_demo_processes_the_whole_stream_and_stops_everything() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _NO_FOLLOW],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout
    _remove_logs(output)
    assert result.returncode == 0, output + result.stderr
    done = _DONE.search(output)
    assert done is not None, output
    produced, processed = int(done[1]), int(done[2])
    assert produced > 1000
    assert processed == produced
    assert {m[1] for m in _COUNTRY_ROW.finditer(output)} == {"DE", "FR", "NL", "AT", "CH", "PL"}
    assert re.search(r"dead-lettered [1-9]", output), output
    pids = [int(pid) for pid in _PID.findall(output)]
    assert len(pids) == 3, output  # broker, Redis, worker
    _assert_all_gone(pids)


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_stops_the_demo_and_every_process_it_started(
    sig: signal.Signals, demo_process: list[subprocess.Popen[str]]
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "cxstream", "demo", "--days", "2", "--rate", "1000"],
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    demo_process.append(process)
    lines = _Lines(process)
    pids = [
        int(lines.wait_for(re.compile(rf"{name} .*\bpid (\d+)"), 60.0)[1])
        for name in ("broker", "redis", "worker")
    ]
    report = lines.wait_for(re.compile(r"report  (http://127\.0\.0\.1:\d+/report)"), 30.0)[1]
    lines.wait_for(re.compile(r"processed [1-9][\d,]* "), 60.0)
    # The worker serves the traffic-light report while the demo runs.
    page = _get(report, timeout=30.0)
    assert "CX traffic light" in page

    interrupted = time.monotonic()
    process.send_signal(sig)
    process.wait(timeout=40)
    stop_s = time.monotonic() - interrupted
    output = lines.rest()
    _remove_logs(output)
    assert process.returncode == 130, output
    assert stop_s < 20.0, output
    assert "stopped; logs are in" in output
    _assert_all_gone(pids)


class _Buckets:
    """The two reads :class:`LiveFigures` makes, over in-memory buckets."""

    def __init__(self) -> None:
        self.dims: dict[str, dict[str, str]] = {}
        self.buckets: dict[str, dict[int, dict[str, float]]] = {}

    def add(self, sid: str, dims: dict[str, str], bucket: int, name: str, value: float) -> None:
        self.dims.setdefault(sid, dims)
        counters = self.buckets.setdefault(sid, {}).setdefault(bucket, {})
        counters[name] = counters.get(name, 0.0) + value

    async def series(self) -> dict[str, dict[str, str]]:
        return dict(self.dims)

    async def read_buckets(
        self, series: Sequence[str], first_bucket: int | None = None, last_bucket: int | None = None
    ) -> dict[str, dict[int, dict[str, float]]]:
        low = -(2**62) if first_bucket is None else first_bucket
        high = 2**62 if last_bucket is None else last_bucket
        return {
            sid: {b: dict(c) for b, c in self.buckets.get(sid, {}).items() if low <= b <= high}
            for sid in series
        }


async def test_live_figures_match_a_full_read_while_buckets_keep_changing() -> None:
    store = _Buckets()
    figures = LiveFigures(store, bucket_seconds=900, margin_s=6 * 3600)  # type: ignore[arg-type]
    rng = random.Random(5)
    first = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp()) // 900
    countries = ("DE", "FR", "PL")
    for step in range(1, 40):
        now = first + step * 12  # three hours of stream time per step
        for bucket in (now, now - 30):  # both kinds reached ``now``; an older bucket is final
            store.add("all", {}, bucket, "placed", 1)
            store.add("all", {}, bucket, "responses", 1)
        for _ in range(60):  # late updates reach back at most six hours
            country = rng.choice(countries)
            bucket = rng.randint(now - 24, now)
            for name, value in (
                ("responses", 2),
                ("promoters", rng.randint(0, 2)),
                ("delivered", 3),
                ("delivered_late", rng.randint(0, 1)),
            ):
                store.add("all", {}, bucket, name, value)
                store.add(f"country={country}", {"country": country}, bucket, name, value)
        board = await figures.refresh()
        assert board.as_of == datetime.fromtimestamp((now + 1) * 900, UTC)
        rows = {row.name: row for row in (*board.countries, board.shop)}
        for sid, buckets in store.buckets.items():
            day = {b: c for b, c in buckets.items() if now - 96 < b <= now}
            row = rows[store.dims[sid].get("country", "all")]
            assert row.total == figures_from_counters(sum_counters(buckets))
            assert row.day == figures_from_counters(sum_counters(day))
