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
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import types
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError
from rich.console import Console

from cxstream.clock import Clock, SystemClock
from cxstream.config import Settings, TopicNames
from cxstream.demo_feed import LineCounter, RateMeter, StreamFeeder, demo_config
from cxstream.demo_figures import LiveFigures
from cxstream.demo_view import DemoDisplay, DemoView, WorkerStats, say
from cxstream.embedded import EmbeddedKafka, EmbeddedRedis, EmbeddedServerError
from cxstream.firing import FiringAlerts, RedisFiringAlerts
from cxstream.generator import GeneratorConfig, generate_lines
from cxstream.producing import ensure_topics, kafka_client_options
from cxstream.redis_store import RedisStateStore
from cxstream.worker_process import WorkerProcess

__all__ = ["DemoError", "run_demo"]

_BROKER_ENV = "CXSTREAM_BROKER"
_REDIS_ENV = "CXSTREAM_REDIS_URL"
_REFRESH_S = 1.0
_STALL_TIMEOUT_S = 180.0
_EXIT_INTERRUPTED = 130
_PLAIN_WIDTH = 132
_WORKER_STOP_TIMEOUT_S = 5.0
#: The rule set shipped beside the package (a source checkout); none in a bare wheel.
_SHIPPED_RULES = Path(__file__).resolve().parents[1] / "rules"


class DemoError(RuntimeError):
    """The demo cannot go on (a child process died, the worker stalled, ...)."""


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
    update["log_level"] = "warning"
    if settings.rules_dir is None and _SHIPPED_RULES.is_dir():
        update["rules_dir"] = _SHIPPED_RULES
    rules = update.get("rules_dir", settings.rules_dir)
    say(console, f"  rules   {rules}" if rules else "  rules   none (built-in detection only)")
    if settings.outbox_dir is None:
        update["outbox_dir"] = workdir / "outbox"
    configured = [name for name in ("slack", "smtp") if getattr(settings, name) is not None]
    outbox = update.get("outbox_dir", settings.outbox_dir)
    say(
        console,
        f"  outbox  {outbox} (.eml and Block Kit JSON"
        + (f"; also sent through {', '.join(configured)})" if configured else ")"),
    )
    return settings.model_copy(update=update)


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
        counter: LineCounter,
        *,
        clock: Clock,
    ) -> None:
        self.worker, self.feeder, self.feeding = worker, feeder, feeding
        self.figures, self.counter, self.clock = figures, counter, clock
        self.started = clock.monotonic()
        self.last_progress = (self.started, -1)
        self.meters = (RateMeter(clock), RateMeter(clock))
        self.firing: FiringAlerts | None = None
        self.outbox: str | None = None

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

    async def view(self) -> DemoView:
        data = await asyncio.to_thread(self.worker.stats)
        stats = WorkerStats.from_json(data) if data is not None else None
        processed = stats.processed if stats is not None else 0
        self.check(processed)
        finished = _all_processed(self.feeder, stats)
        board = await self.figures.refresh(full=finished)
        alerts = await self.firing.firing() if self.firing is not None else []
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
            alerts=tuple(sorted(alerts, key=lambda a: a.at)),
            outbox=self.outbox,
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
    counter = LineCounter(config).start()
    feeding: asyncio.Task[None] | None = None
    try:
        await producer.start()
        feeding = asyncio.create_task(feeder.run(producer), name="demo-feed")
        figures = LiveFigures(store, settings.bucket_seconds)
        watch = _Watch(worker, feeder, feeding, figures, counter, clock=clock)
        watch.firing = RedisFiringAlerts(store.client, settings.key_prefix)
        watch.outbox = str(settings.outbox_dir) if settings.outbox_dir else None
        with DemoDisplay(run.console, clock) as display:
            view = await watch.view()
            while not view.finished:
                display.show(view)
                await asyncio.sleep(_REFRESH_S)
                view = await watch.view()
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
    """The worker, its settings in a private file (they may hold passwords)."""
    worker = WorkerProcess(
        settings, workdir, settings_file=True, stop_timeout=_WORKER_STOP_TIMEOUT_S
    )
    if worker.settings.web.public_url is None:
        # Links in alert messages and digests point at this worker's report page.
        web = worker.settings.web.model_copy(update={"public_url": _report_base(worker)})
        worker.settings = worker.settings.model_copy(update={"web": web})
    return stack.enter_context(worker)


def _report_base(worker: WorkerProcess) -> str:
    return f"http://127.0.0.1:{worker.port}"


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
    today, midnight UTC). Returns 130 when interrupted (Ctrl-C or SIGTERM) before the
    end, and 1 when a server, the worker or the feeding fails.
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
            say(
                console,
                f"  report  {_report_base(worker)}/report  (JSON /api/report, /metrics,"
                " /healthz, /docs)",
            )
            asyncio.run(_feed_and_watch(demo_settings, config, worker, options))
            return 0
        except (KeyboardInterrupt, asyncio.CancelledError):
            say(console, "stopping…")
            return 0 if options.finished else _EXIT_INTERRUPTED
        except (DemoError, EmbeddedServerError, KafkaError, RedisError, OSError) as exc:
            say(console, f"error: {exc}", style="bold red")
            if worker is not None and (tail := worker.log_tail(20)):
                say(console, f"last lines of {worker.log_path}:\n{tail}")
            return 1
        finally:
            stack.close()
            if worker is not None:
                shutil.rmtree(worker.datadir, ignore_errors=True)
            say(console, f"stopped; logs are in {workdir}")
