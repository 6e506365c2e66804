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
import json
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaProducer

from cxstream.config import Settings, TopicNames
from cxstream.delivery_settings import SmtpSettings
from cxstream.embedded import EmbeddedKafka, EmbeddedRedis
from cxstream.generator import GeneratorConfig, generate_events
from cxstream.producing import ensure_topics, kafka_client_options, route
from cxstream.records import action_id
from cxstream.worker_process import WorkerProcess
from tests.servers.smtp import SmtpServer

__all__ = ["main", "run"]

ROOT = Path(__file__).resolve().parents[1]


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
            now = time.monotonic()
            for mail in new:
                action = mail.message["X-Cxstream-Action"]
                if action and action not in self.seen:
                    self.seen[str(action)] = now
            done += len(new)


async def _produce(settings: Settings, rate: float, seconds: float) -> dict[str, float]:
    """Produce live events at ``rate``; returns produce time per apology action id."""
    producer = AIOKafkaProducer(**kafka_client_options(settings), linger_ms=5)
    await producer.start()
    sent_at: dict[str, float] = {}
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
                sent_at.setdefault(action_id("apology", subject), time.monotonic())
        await producer.flush()
    finally:
        await producer.stop()
    return sent_at


def run(rate: float, seconds: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="cxstream-latency-"))
    uid = uuid.uuid4().hex[:8]
    try:
        with (
            EmbeddedKafka(log_path=work / "tansu.log") as kafka,
            EmbeddedRedis(log_path=work / "redis.log") as redis,
            SmtpServer() as smtp,
        ):
            names = {n: f"lat-{uid}.{n}" for n in TopicNames.model_fields}
            settings = Settings(
                broker=kafka.bootstrap,
                redis_url=redis.url,
                app_id=f"lat-{uid}",
                key_prefix=f"lat{uid}",
                topics=TopicNames(**names),
                session_timeout_s=2.0,
                rebalance_timeout_s=4.0,
                rules_dir=_rules_without_quiet_hours(work / "rules"),
                smtp=SmtpSettings(
                    host=smtp.host, port=smtp.port, security="none", from_address="s@shop.test"
                ),
                log_level="warning",
            )
            asyncio.run(ensure_topics(settings))
            with WorkerProcess(settings, work, "worker") as worker, _Arrivals(smtp) as arrivals:
                worker.wait_until(lambda s: s.get("ready", False), 120, "worker ready")
                time.sleep(5.0)  # let the group settle before the clock starts
                sent_at = asyncio.run(_produce(settings, rate, seconds))
                time.sleep(10.0)  # the last emails of the stream
                latencies = sorted(
                    arrivals.seen[a] - sent_at[a] for a in arrivals.seen if a in sent_at
                )
                start = min(sent_at.values(), default=0.0)
                by_slice: dict[int, list[float]] = {}
                for a in arrivals.seen:
                    if a in sent_at:
                        late = arrivals.seen[a] - sent_at[a]
                        by_slice.setdefault(int((sent_at[a] - start) // 15), []).append(late)
        if not latencies:
            raise RuntimeError(f"no apology arrived; see {work}")
        return {
            "rate": rate,
            "emails": len(latencies),
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "max_ms": 1000 * latencies[-1],
            # Worst latency per 15 s of the run: steady, or growing (the worker falls behind)?
            "max_ms_per_15s": [round(1000 * max(v)) for _, v in sorted(by_slice.items())],
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2500.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    figures = run(args.rate, args.seconds)
    for name, value in figures.items():
        if isinstance(value, list):
            print(f"{name:10s} {value}")
        else:
            print(f"{name:10s} {value:10.1f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
