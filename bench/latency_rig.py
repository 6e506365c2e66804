"""The servers and the worker the latency benchmarks run against.

An embedded broker (or ``kafka``, ``host:port``, an external one) and Redis, an aiosmtpd
server and a worker with the shipped rules, quiet hours removed so that nothing is held
for the night; :class:`Arrivals` stamps each email the SMTP server receives with its
arrival time, :class:`CpuMeter` measures the processes' CPU, and :func:`produce_live`
produces a live generated stream at a given rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import yaml
from aiokafka import AIOKafkaProducer

from cxstream.config import Settings, TopicNames
from cxstream.delivery_settings import DispatchSettings, SmtpSettings
from cxstream.embedded import EmbeddedKafka, EmbeddedRedis
from cxstream.generator import GeneratorConfig, generate_events
from cxstream.producing import ensure_topics, kafka_client_options, route
from cxstream.records import action_id
from cxstream.worker_process import WorkerProcess
from tests.servers.smtp import SmtpServer

__all__ = ["Arrivals", "CpuMeter", "Rig", "latency_rig", "produce_live"]

ROOT = Path(__file__).resolve().parents[1]
_ACTION_HEADER = re.compile(rb"^X-Cxstream-Action:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def rules_without_quiet_hours(target: Path) -> Path:
    shutil.copytree(ROOT / "rules", target)
    countries = target / "countries.yaml"
    data = yaml.safe_load(countries.read_text())
    data.get("defaults", {}).pop("quiet_hours", None)
    for country in data.get("countries", {}).values():
        country.pop("quiet_hours", None)
    countries.write_text(yaml.safe_dump(data))
    return target


class Arrivals:
    """Polls the SMTP server's mailbox and stamps each new message with its arrival."""

    def __init__(self, smtp: SmtpServer) -> None:
        self.smtp = smtp
        self.seen: dict[str, float] = {}
        self.seen_wall: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> Arrivals:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        done = 0
        while not self._stop.wait(0.005):
            with self.smtp.lock:
                new = self.smtp.received[done:]
            now, wall = time.monotonic(), time.time()
            for mail in new:
                # The header only: parsing the whole MIME message would cost this process
                # (which shares the machine with the worker) a millisecond per email.
                found = _ACTION_HEADER.search(mail.data.split(b"\r\n\r\n", 1)[0])
                action = found.group(1).decode() if found else None
                if action and action not in self.seen:
                    self.seen[action] = now
                    self.seen_wall[action] = wall
            done += len(new)


class CpuMeter:
    """CPU time of a few processes, from now on, as a share of one core."""

    def __init__(self, **pids: int | None) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items() if pid}
        self._start = time.monotonic()
        self._cpu = {name: self._used(proc) for name, proc in self._procs.items()}

    @staticmethod
    def _used(proc: psutil.Process) -> float:
        times = proc.cpu_times()
        return float(times.user + times.system)

    def percent(self) -> dict[str, float]:
        elapsed = time.monotonic() - self._start
        return {
            name: 100 * (self._used(proc) - self._cpu[name]) / elapsed
            for name, proc in self._procs.items()
        }


@dataclass
class Rig:
    """A started worker and what it talks to."""

    settings: Settings
    worker: WorkerProcess
    arrivals: Arrivals
    work: Path
    broker_pid: int | None
    redis_pid: int | None

    def cpu_meter(self) -> CpuMeter:
        """CPU of the broker (when embedded), Redis and the worker from now on."""
        return CpuMeter(broker=self.broker_pid, redis=self.redis_pid, worker=self.worker.pid)


@contextlib.contextmanager
def latency_rig(
    *,
    concurrency: int | None = None,
    smtp_connections: int | None = None,
    kafka: str | None = None,
) -> Iterator[Rig]:
    """Start everything, wait until the worker is ready and its group settled; stop it
    all (and remove its files) afterwards. ``concurrency`` and ``smtp_connections``
    override the delivery agent's concurrency and the email notifier's kept-open
    connections (default: the settings' defaults)."""
    work = Path(tempfile.mkdtemp(prefix="cxstream-latency-"))
    uid = uuid.uuid4().hex[:8]
    try:
        with (
            contextlib.ExitStack() as stack,
            EmbeddedRedis(log_path=work / "redis.log") as redis,
            SmtpServer() as smtp,
        ):
            embedded = (
                stack.enter_context(EmbeddedKafka(log_path=work / "tansu.log"))
                if kafka is None
                else None
            )
            names = {n: f"lat-{uid}.{n}" for n in TopicNames.model_fields}
            settings = Settings(
                broker=embedded.bootstrap if embedded is not None else str(kafka),
                redis_url=redis.url,
                app_id=f"lat-{uid}",
                key_prefix=f"lat{uid}",
                topics=TopicNames(**names),
                session_timeout_s=2.0,
                rebalance_timeout_s=4.0,
                rules_dir=rules_without_quiet_hours(work / "rules"),
                smtp=SmtpSettings(
                    host=smtp.host,
                    port=smtp.port,
                    security="none",
                    from_address="s@shop.test",
                    **({} if smtp_connections is None else {"max_connections": smtp_connections}),
                ),
                dispatch=DispatchSettings(
                    **({} if concurrency is None else {"concurrency": concurrency})
                ),
                log_level="warning",
            )
            asyncio.run(ensure_topics(settings))
            with WorkerProcess(settings, work, "worker") as worker, Arrivals(smtp) as arrivals:
                worker.wait_until(lambda s: s.get("ready", False), 120, "worker ready")
                time.sleep(5.0)  # let the group settle before the clock starts
                yield Rig(
                    settings,
                    worker,
                    arrivals,
                    work,
                    embedded.pid if embedded is not None else None,
                    redis.pid,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def produce_live(
    settings: Settings,
    rate: Callable[[float], float],
    seconds: float,
    *,
    days: int = 3,
    on_sent: Callable[[], None] | None = None,
) -> tuple[dict[str, float], dict[str, float], int]:
    """Produce a live stream for ``seconds``, ``rate(elapsed)`` events/s, each event's
    ``ts`` the moment it is produced (``on_sent`` is called after each); returns the
    monotonic and the wall-clock time of producing the answer that causes each apology
    (by action id), and the number of events produced."""
    producer = AIOKafkaProducer(**kafka_client_options(settings), linger_ms=5)
    await producer.start()
    sent_at: dict[str, float] = {}
    sent_wall: dict[str, float] = {}
    config = GeneratorConfig(days=days, seed=9, orders_per_day=20000, duplicate_rate=0.0)
    start = time.monotonic()
    due = start
    produced = 0
    try:
        for event in generate_events(config):
            if due - time.monotonic() > 0:
                await asyncio.sleep(due - time.monotonic())
            elapsed = time.monotonic() - start
            if elapsed > seconds:
                break
            due += 1.0 / rate(due - start)
            event["ts"] = datetime.now(UTC).isoformat()
            raw = json.dumps(event).encode()
            target = route(raw, settings)
            assert not isinstance(target, str), target
            topic, key = target
            await producer.send(topic, value=raw, key=key)
            produced += 1
            if on_sent is not None:
                on_sent()
            if event["kind"] == "feedback":
                subject = (
                    f"order:{event['order_id']}"
                    if event.get("order_id")
                    else f"feedback:{event['event_id']}"
                )
                apology = action_id("apology", subject)
                if apology not in sent_at:
                    sent_at[apology], sent_wall[apology] = time.monotonic(), time.time()
        await producer.flush()
    finally:
        await producer.stop()
    return sent_at, sent_wall, produced
