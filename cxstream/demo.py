"""``cxstream demo``: the whole pipeline on one machine with one command.

Starts an embedded Kafka-compatible broker (Tansu) and an embedded Redis, unless
``CXSTREAM_BROKER`` / ``CXSTREAM_REDIS_URL`` point at real ones, then the Faust worker
as a child process, and feeds it a generated multi-country stream at a steady rate,
replayed faster than real time. While the worker counts, the terminal shows the
progress and live per-segment figures read back from Redis (a plain summary line
every few seconds when the output is not a terminal).

On a real broker the demo uses topics and a consumer group of its own, and on a real
Redis a key prefix of its own, so it never mixes with other data. Whatever way it
ends (finished, error, Ctrl-C or SIGTERM), it stops every process it started.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import itertools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError
from rich.console import Console

from cxstream.clock import Clock, SystemClock
from cxstream.config import Settings, TopicNames
from cxstream.demo_view import DemoDisplay, DemoView, LiveFigures, WorkerStats, say
from cxstream.embedded import EmbeddedKafka, EmbeddedRedis, EmbeddedServerError, free_port
from cxstream.generator import (
    AppNpsDropIncident,
    CarrierDelayIncident,
    GeneratorConfig,
    Incident,
    default_countries,
    generate_lines,
)
from cxstream.producing import ensure_topics, kafka_client_options, route
from cxstream.redis_store import RedisStateStore

__all__ = ["DemoError", "RateMeter", "StreamFeeder", "WorkerProcess", "demo_config", "run_demo"]

_BROKER_ENV = "CXSTREAM_BROKER"
_REDIS_ENV = "CXSTREAM_REDIS_URL"
_INVALID_RATE = 0.001
_REFRESH_S = 1.0
_STALL_TIMEOUT_S = 180.0
_EXIT_INTERRUPTED = 130
_PLAIN_WIDTH = 132
_SETTINGS_FILE = "worker-settings.json"
_DATA_DIR = "worker-data"
_PR_SET_PDEATHSIG = 1


class DemoError(RuntimeError):
    """The demo cannot go on (a child process died, the worker stalled, ...)."""


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to kill the child if the demo dies without cleanup.

    SIGKILL, because the worker may wait for its broker forever on SIGTERM, and its
    state in Redis is safe to abandon. Linux ties this to the forking thread, so it is
    only used from the main thread.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


class WorkerProcess:
    """The Faust worker as a child in its own session, stopped with its whole group.

    :meth:`stop` sends SIGTERM, then SIGKILL after ``stop_timeout`` seconds, and
    reaps the process; it also runs when the interpreter exits.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        web_port: int,
        stop_timeout: float = 5.0,
    ) -> None:
        self._argv = list(argv)
        self._env = dict(env)
        self._cwd = cwd
        self.log_path = log_path
        self.stats_url = f"http://127.0.0.1:{web_port}/stats/"
        self._stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._process.poll() if self._process is not None else None

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._cwd,
                env=self._env,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        atexit.register(self.stop)
        return self

    def _signal(self, sig: signal.Signals) -> None:
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, sig)

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        self._signal(signal.SIGTERM)
        try:
            process.wait(timeout=self._stop_timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            process.wait()
        atexit.unregister(self.stop)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_bytes()[-32768:].decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class RateMeter:
    """Events per second from a growing count, smoothed over a few seconds."""

    def __init__(self, clock: Clock, half_life_s: float = 2.0) -> None:
        self._clock = clock
        self._half_life_s = half_life_s
        self._last: tuple[float, int] | None = None
        self.rate = 0.0

    def update(self, count: int) -> float:
        now = self._clock.monotonic()
        if self._last is not None and now > self._last[0]:
            elapsed = now - self._last[0]
            instant = (count - self._last[1]) / elapsed
            self.rate += (1.0 - 0.5 ** (elapsed / self._half_life_s)) * (instant - self.rate)
        self._last = (now, count)
        return self.rate


class StreamFeeder:
    """Sends generated lines to their topics at ``rate`` lines per second, in order.

    Lines that cannot be routed (malformed ones) go to the feedback topic without a
    key, as a faulty upstream would send them, so that the worker dead-letters them.
    """

    def __init__(
        self, lines: Iterator[dict[str, Any] | str], settings: Settings, rate: float, clock: Clock
    ) -> None:
        self._lines = lines
        self._settings = settings
        self._fallback = settings.topics.feedback
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self._rate = rate
        self._clock = clock
        self._chunk = max(50, min(5000, int(rate / 20)))
        self.produced = 0
        self.done = False
        #: Event time of the latest event the broker acknowledged.
        self.stream_time: datetime | None = None

    def _next_chunk(self) -> tuple[list[tuple[str, bytes | None, bytes]], str | None]:
        """Generate, encode and route the next lines (CPU work, so it runs in a thread)."""
        records: list[tuple[str, bytes | None, bytes]] = []
        latest: str | None = None
        for item in itertools.islice(self._lines, self._chunk):
            if isinstance(item, str):
                raw = item.encode("utf-8")
            else:
                raw, latest = self._encode(item).encode("utf-8"), item.get("ts", latest)
            target = route(raw, self._settings)
            topic, key = (self._fallback, None) if isinstance(target, str) else target
            records.append((topic, key, raw))
        return records, latest

    async def run(self, producer: AIOKafkaProducer) -> None:
        """Send every line, a chunk at a time, pacing the chunks to the rate."""
        started = self._clock.monotonic()
        while True:
            records, latest = await asyncio.to_thread(self._next_chunk)
            if not records:
                break
            sent = [await producer.send(topic, value=raw, key=key) for topic, key, raw in records]
            await asyncio.gather(*sent)
            self.produced += len(records)
            if latest is not None:
                self.stream_time = datetime.fromisoformat(latest).astimezone(UTC)
            delay = started + self.produced / self._rate - self._clock.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        self.done = True


def demo_config(*, days: int, seed: int, start: datetime) -> GeneratorConfig:
    """The generated shop: default countries, a carrier delay and an app NPS drop."""
    countries = default_countries()
    span = timedelta(days=days)
    delayed = countries[min(4, len(countries) - 1)]
    delay_start = start + span * 0.4
    drop_start = start + span * 0.7
    incidents: tuple[Incident, ...] = (
        CarrierDelayIncident(
            country=delayed.code,
            carrier=delayed.carriers[0].name,
            start=delay_start,
            end=delay_start + min(timedelta(days=2), span * 0.25),
            extra_delay_days=2.0,
        ),
        AppNpsDropIncident(
            country=countries[0].code,
            start=drop_start,
            end=drop_start + min(timedelta(days=1.5), span * 0.25),
        ),
    )
    return GeneratorConfig(
        days=days, seed=seed, start=start, invalid_rate=_INVALID_RATE, incidents=incidents
    )


class _LineCounter:
    """Counts the lines of the stream in a background thread, for the progress total."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.total: int | None = None
        self._config = config
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._count, name="demo-line-count", daemon=True)

    def start(self) -> _LineCounter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _count(self) -> None:
        count = 0
        for _ in generate_lines(self._config):
            count += 1
            if count % 4096 == 0 and self._stop.is_set():
                return
        self.total = count


def _start_servers(
    settings: Settings, stack: ExitStack, workdir: Path, console: Console
) -> Settings:
    """Start what the environment does not provide; return the settings the demo uses."""
    run = secrets.token_hex(3)
    update: dict[str, Any] = {}
    if os.environ.get(_BROKER_ENV):
        topics = {name: f"cx.demo-{run}.{name}" for name in TopicNames.model_fields}
        update.update(topics=TopicNames(**topics), app_id=f"cxstream-demo-{run}")
        say(console, f"  broker  {settings.broker} (from {_BROKER_ENV}), topics cx.demo-{run}.*")
    else:
        kafka = stack.enter_context(EmbeddedKafka(log_path=workdir / "tansu.log"))
        update.update(broker=kafka.bootstrap, session_timeout_s=2.0, rebalance_timeout_s=4.0)
        say(console, f"  broker  embedded Tansu at {kafka.bootstrap} (pid {kafka.pid})")
    if os.environ.get(_REDIS_ENV):
        update["key_prefix"] = f"cxdemo-{run}"
        say(console, f"  redis   {settings.redis_url} (from {_REDIS_ENV}), key prefix cxdemo-{run}")
    else:
        redis = stack.enter_context(EmbeddedRedis(log_path=workdir / "redis.log"))
        update["redis_url"] = redis.url
        say(console, f"  redis   embedded Redis at {redis.url} (pid {redis.pid})")
    update.update(web_port=free_port(), datadir=workdir / _DATA_DIR, log_level="warning")
    return settings.model_copy(update=update)


def _write_worker_settings(settings: Settings, path: Path) -> None:
    """The demo's settings as a private JSON file the worker loads with ``--config``."""
    data = settings.model_dump(mode="json")
    for name in ("kafka_password", "redis_password"):
        secret = getattr(settings, name)
        data[name] = secret.get_secret_value() if secret is not None else None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def _worker_environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}
    env.update(
        CXSTREAM_BROKER=settings.broker,
        CXSTREAM_REDIS_URL=settings.redis_url,
        CXSTREAM_WEB_PORT=str(settings.web_port),
        CXSTREAM_DATADIR=str(settings.datadir),
        CXSTREAM_SESSION_TIMEOUT_S=f"{settings.session_timeout_s:g}",
        CXSTREAM_REBALANCE_TIMEOUT_S=f"{settings.rebalance_timeout_s:g}",
        CXSTREAM_LOG_LEVEL=settings.log_level,
    )
    return env


async def _fetch_stats(http: aiohttp.ClientSession, url: str) -> WorkerStats | None:
    try:
        async with http.get(url) as response:
            data = await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    return WorkerStats.from_json(data) if isinstance(data, dict) else None


def _all_processed(feeder: StreamFeeder, stats: WorkerStats | None) -> bool:
    return (
        feeder.done
        and stats is not None
        and stats.received >= feeder.produced
        and stats.processed >= stats.received
        and stats.held == 0
    )


class _Watch:
    """Polls the worker and Redis and builds each frame; raises when something failed."""

    def __init__(
        self,
        worker: WorkerProcess,
        feeder: StreamFeeder,
        feeding: asyncio.Task[None],
        figures: LiveFigures,
        counter: _LineCounter,
        *,
        clock: Clock,
    ) -> None:
        self.worker, self.feeder, self.feeding = worker, feeder, feeding
        self.figures, self.counter, self.clock = figures, counter, clock
        self.started = clock.monotonic()
        self.last_progress = (self.started, -1)
        self.meters = (RateMeter(clock), RateMeter(clock))

    def check(self, processed: int) -> None:
        """Raise :class:`DemoError` if the worker or the feeding failed or stalled."""
        if not self.worker.running:
            raise DemoError(f"the worker exited with code {self.worker.returncode}")
        if self.feeding.done() and not self.feeding.cancelled() and self.feeding.exception():
            error = self.feeding.exception()
            raise DemoError(f"feeding the broker failed: {error!r}") from error
        now = self.clock.monotonic()
        if processed != self.last_progress[1] or self.feeder.produced <= processed:
            self.last_progress = (now, processed)
        elif now - self.last_progress[0] > _STALL_TIMEOUT_S:
            raise DemoError(f"the worker made no progress for {_STALL_TIMEOUT_S:.0f}s")

    async def view(self, http: aiohttp.ClientSession) -> DemoView:
        stats = await _fetch_stats(http, self.worker.stats_url)
        processed = stats.processed if stats is not None else 0
        self.check(processed)
        finished = _all_processed(self.feeder, stats)
        board = await self.figures.refresh(full=finished)
        feeder = self.feeder
        return DemoView(
            elapsed_s=self.clock.monotonic() - self.started,
            produced=feeder.produced,
            total=feeder.produced if feeder.done else self.counter.total,
            produce_rate=0.0 if feeder.done else self.meters[0].update(feeder.produced),
            stream_time=feeder.stream_time,
            worker=stats,
            process_rate=self.meters[1].update(processed),
            board=board,
            finished=finished,
        )


async def _feed_and_watch(
    settings: Settings, config: GeneratorConfig, worker: WorkerProcess, run: _Options
) -> None:
    """Feed the stream and show the figures; return once it is processed (unless following)."""
    rate, clock = run.rate, run.clock
    feeder = StreamFeeder(generate_lines(config), settings, rate, clock)
    store = RedisStateStore.from_settings(settings)
    options = kafka_client_options(settings)
    producer = AIOKafkaProducer(**options, linger_ms=10, max_batch_size=131072)
    counter = _LineCounter(config).start()
    feeding: asyncio.Task[None] | None = None
    try:
        await producer.start()
        feeding = asyncio.create_task(feeder.run(producer), name="demo-feed")
        figures = LiveFigures(store, settings.bucket_seconds)
        watch = _Watch(worker, feeder, feeding, figures, counter, clock=clock)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as http:
            with DemoDisplay(run.console, clock) as display:
                view = await watch.view(http)
                while not view.finished:
                    display.show(view)
                    await asyncio.sleep(_REFRESH_S)
                    view = await watch.view(http)
                run.finished = True
                display.finish(view, follow=run.follow)
                if run.follow:
                    await asyncio.Event().wait()
    finally:
        counter.stop()
        if feeding is not None:
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeding
        await producer.stop()
        await store.close()


@dataclass(slots=True)
class _Options:
    rate: float
    follow: bool
    clock: Clock
    console: Console
    finished: bool = False


def _interrupt(signum: int, frame: types.FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while the demo runs, so that it cleans up too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _start_worker(settings: Settings, workdir: Path, stack: ExitStack) -> WorkerProcess:
    _write_worker_settings(settings, workdir / _SETTINGS_FILE)
    worker = WorkerProcess(
        [sys.executable, "-m", "cxstream", "worker", "--config", _SETTINGS_FILE],
        env=_worker_environment(settings),
        cwd=workdir,
        log_path=workdir / "worker.log",
        web_port=settings.web_port,
    )
    return stack.enter_context(worker)


def run_demo(
    settings: Settings,
    *,
    days: int,
    seed: int,
    rate: float,
    follow: bool = True,
    start: datetime | None = None,
    clock: Clock | None = None,
    console: Console | None = None,
) -> int:
    """Run the demo; return the process exit code.

    With ``follow`` (the default) the final figures stay on screen until Ctrl-C;
    without it the demo returns 0 as soon as the worker has processed the whole
    stream. ``start`` is the first day of the stream (default: ``days`` days before
    today, midnight UTC). Returns 130 when interrupted before the end, 1 on failure.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    clock = clock or SystemClock()
    console = console or Console(width=None if sys.stdout.isatty() else _PLAIN_WIDTH)
    if start is None:
        today = clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=days)
    config = demo_config(days=days, seed=seed, start=start)
    options = _Options(rate, follow, clock, console)
    workdir = Path(tempfile.mkdtemp(prefix="cxstream-demo-"))
    span = f"{days} day{'s' if days != 1 else ''}"
    say(console, f"cxstream demo: {span} of generated events (seed {seed}), {rate:,.0f}/s")
    say(console, f"  logs    {workdir}")
    worker: WorkerProcess | None = None
    with _sigterm_as_interrupt(), ExitStack() as stack:
        try:
            demo_settings = _start_servers(settings, stack, workdir, console)
            asyncio.run(ensure_topics(demo_settings))
            worker = _start_worker(demo_settings, workdir, stack)
            say(console, f"  worker  pid {worker.pid}, log {worker.log_path}")
            asyncio.run(_feed_and_watch(demo_settings, config, worker, options))
            return 0
        except (KeyboardInterrupt, asyncio.CancelledError):
            say(console, "stopping…")
            return 0 if options.finished else _EXIT_INTERRUPTED
        except (DemoError, EmbeddedServerError, KafkaError, RedisError, OSError) as exc:
            say(console, f"error: {exc}", style="bold red")
            tail = worker.log_tail() if worker is not None else ""
            if tail:
                say(console, f"last lines of {worker.log_path if worker else ''}:\n{tail}")
            return 1
        finally:
            stack.close()
            (workdir / _SETTINGS_FILE).unlink(missing_ok=True)
            shutil.rmtree(workdir / _DATA_DIR, ignore_errors=True)
            say(console, f"stopped; logs are in {workdir}")
