"""Latency from an answer arriving on Kafka to the apology email reaching the SMTP server.

Starts an embedded broker and Redis, an aiosmtpd server and a worker with the shipped
rules (quiet hours removed, so that nothing is held for the night), then produces a
generated stream at ``--rate`` events/s with every event's ``ts`` set to the moment it
is produced (a live stream). For every apology email that arrives, the latency is the
time from producing the answer that caused it to the email's arrival at the SMTP
server: decoding, the join with the order, the planner, the outbox topic, the delivery
agent, the idempotency record and the SMTP conversation. Prints p50/p99/max over the
emails that arrived. Run at about half the worker's maximum rate (see
``bench.throughput``): ``python -m bench.bench_latency --rate 2500 --seconds 60``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cxstream.config import Settings, TopicNames
from cxstream.delivery_settings import DispatchSettings, SmtpSettings
from cxstream.embedded import EmbeddedKafka, EmbeddedRedis
from cxstream.generator import GeneratorConfig, generate_events
from cxstream.producing import ensure_topics, kafka_client_options, route
from cxstream.records import action_id
from cxstream.worker_process import WorkerProcess
from tests.servers.smtp import SmtpServer

__all__ = ["main", "run"]

ROOT = Path(__file__).resolve().parents[1]
_ACTION_HEADER = re.compile(rb"^X-Cxstream-Action:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def _rules_without_quiet_hours(target: Path) -> Path:
    shutil.copytree(ROOT / "rules", target)
    countries = target / "countries.yaml"
    data = yaml.safe_load(countries.read_text())
    data.get("defaults", {}).pop("quiet_hours", None)
    for country in data.get("countries", {}).values():
        country.pop("quiet_hours", None)
    countries.write_text(yaml.safe_dump(data))
    return target


class _Arrivals:
    """Polls the SMTP server's mailbox and stamps each new message with its arrival."""

    def __init__(self, smtp: SmtpServer) -> None:
        self.smtp = smtp
        self.seen: dict[str, float] = {}
        self.seen_wall: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> _Arrivals:
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


async def _outbox_times(settings: Settings) -> dict[str, float]:
    """When each action reached the outbox topic (its record's create time, set by the
    worker's producer), as wall-clock seconds by action id."""
    consumer = AIOKafkaConsumer(
        settings.topics.actions,
        **kafka_client_options(settings),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: dict[str, float] = {}
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=2000)
            if not batches:
                return out
            for records in batches.values():
                for record in records:
                    if record.key is not None:
                        out.setdefault(record.key.decode(), record.timestamp / 1000)
    finally:
        await consumer.stop()


async def _produce(
    settings: Settings, rate: float, seconds: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Produce live events at ``rate``; returns the monotonic and the wall-clock time of
    producing the answer that causes each apology, by action id."""
    producer = AIOKafkaProducer(**kafka_client_options(settings), linger_ms=5)
    await producer.start()
    sent_at: dict[str, float] = {}
    sent_wall: dict[str, float] = {}
    config = GeneratorConfig(days=3, seed=9, orders_per_day=20000, duplicate_rate=0.0)
    start = time.monotonic()
    try:
        for n, event in enumerate(generate_events(config)):
            due = start + n / rate
            if due - time.monotonic() > 0:
                await asyncio.sleep(due - time.monotonic())
            if time.monotonic() - start > seconds:
                break
            event["ts"] = datetime.now(UTC).isoformat()
            raw = json.dumps(event).encode()
            target = route(raw, settings)
            assert not isinstance(target, str), target
            topic, key = target
            await producer.send(topic, value=raw, key=key)
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
    return sent_at, sent_wall


class _CpuMeter:
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


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run(
    rate: float,
    seconds: float,
    *,
    warmup: float = 15.0,
    concurrency: int | None = None,
    smtp_connections: int | None = None,
    kafka: str | None = None,
) -> dict[str, Any]:
    """One run: ``warmup`` seconds at ``rate`` whose emails are not measured (the first
    connections, fetches and caches of a freshly started worker), then ``seconds``
    measured. ``concurrency`` and ``smtp_connections`` override the delivery agent's
    concurrency and the email notifier's kept-open connections (default: the settings'
    defaults). ``kafka`` (``host:port``) is an external broker to use instead of the
    embedded one (whose in-memory log costs more CPU the longer it grows)."""
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
                rules_dir=_rules_without_quiet_hours(work / "rules"),
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
            with WorkerProcess(settings, work, "worker") as worker, _Arrivals(smtp) as arrivals:
                worker.wait_until(lambda s: s.get("ready", False), 120, "worker ready")
                time.sleep(5.0)  # let the group settle before the clock starts
                cpu = _CpuMeter(
                    broker=embedded.pid if embedded is not None else None,
                    redis=redis.pid,
                    worker=worker.pid,
                )
                sent_at, sent_wall = asyncio.run(_produce(settings, rate, warmup + seconds))
                busy = cpu.percent()
                time.sleep(10.0)  # the last emails of the stream
                outbox = asyncio.run(_outbox_times(settings))
                start = min(sent_at.values(), default=0.0) + warmup
                warm = [a for a in arrivals.seen if a in sent_at and sent_at[a] < start]
                measured = [a for a in arrivals.seen if a in sent_at and sent_at[a] >= start]
                latencies = sorted(arrivals.seen[a] - sent_at[a] for a in measured)
                warmup_max = max((arrivals.seen[a] - sent_at[a] for a in warm), default=0.0)
                by_slice: dict[int, list[float]] = {}
                for a in measured:
                    late = arrivals.seen[a] - sent_at[a]
                    by_slice.setdefault(int((sent_at[a] - start) // 15), []).append(late)
        if not latencies:
            raise RuntimeError(f"no apology arrived; see {work}")
        # The two legs, on the wall clock: answer produced -> action on the outbox topic
        # (decode, join, planner, publish), and -> email at the SMTP server (delivery).
        wall = {a: arrivals.seen_wall[a] for a in measured if a in outbox}
        to_outbox = sorted(outbox[a] - sent_wall[a] for a in wall)
        to_smtp = sorted(wall[a] - outbox[a] for a in wall)
        return {
            "rate": rate,
            "concurrency": settings.dispatch.concurrency,
            "smtp_connections": settings.smtp.max_connections if settings.smtp else 0,
            "emails": len(latencies),
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "max_ms": 1000 * latencies[-1],
            "warmup_emails": len(warm),
            "warmup_max_ms": 1000 * warmup_max,
            # Worst latency per 15 s of the run: steady, or growing (the worker falls behind)?
            "max_ms_per_15s": [round(1000 * max(v)) for _, v in sorted(by_slice.items())],
            # Share of one core each server used while the stream was produced: the
            # embedded broker's in-memory log gets slower as it grows.
            **{f"{name}_cpu_pct": round(value, 1) for name, value in busy.items()},
            "outbox_p50_ms": 1000 * _quantile(to_outbox, 0.5),
            "outbox_p99_ms": 1000 * _quantile(to_outbox, 0.99),
            "delivery_p50_ms": 1000 * _quantile(to_smtp, 0.5),
            "delivery_p99_ms": 1000 * _quantile(to_smtp, 0.99),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2500.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds")
    parser.add_argument(
        "--warmup", type=float, default=15.0, help="seconds at --rate before measuring"
    )
    parser.add_argument(
        "--concurrency", type=int, help="actions the delivery agent delivers at once"
    )
    parser.add_argument("--kafka", help="external broker host:port (default: embedded Tansu)")
    parser.add_argument(
        "--smtp-connections", type=int, help="SMTP connections kept open (0: one per email)"
    )
    args = parser.parse_args()
    figures = run(
        args.rate,
        args.seconds,
        warmup=args.warmup,
        concurrency=args.concurrency,
        smtp_connections=args.smtp_connections,
        kafka=args.kafka,
    )
    for name, value in figures.items():
        if isinstance(value, list):
            print(f"{name:10s} {value}")
        else:
            print(f"{name:10s} {value:10.1f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
