"""Latency from an answer arriving on Kafka to the apology email reaching the SMTP server.

Starts an embedded broker and Redis, an aiosmtpd server and a worker with the shipped
rules (quiet hours removed, so that nothing is held for the night), then produces a
generated stream at ``--rate`` events/s with every event's ``ts`` set to the moment it
is produced (a live stream). For every apology email that arrives, the latency is the
time from producing the answer that caused it to the email's arrival at the SMTP
server: decoding, the join with the order, the planner, the outbox topic, the delivery
agent, the idempotency record and the SMTP conversation. Prints p50/p99/max over the
emails that arrived. The target is stated at half the maximum input rate: with
``--find-max`` it first finds that rate on the same machine and broker
(:mod:`bench.max_rate`: the live rate the worker keeps up with), then measures at half
of it: ``python -m bench.bench_latency --find-max --seconds 120``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.latency_rig import latency_rig, produce_live
from bench.max_rate import find_max_rate
from cxstream.config import Settings
from cxstream.producing import kafka_client_options

__all__ = ["main", "run"]


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
    with latency_rig(
        concurrency=concurrency, smtp_connections=smtp_connections, kafka=kafka
    ) as rig:
        settings, arrivals = rig.settings, rig.arrivals
        cpu = rig.cpu_meter()
        sent_at, sent_wall, _ = asyncio.run(
            produce_live(settings, lambda _: rate, warmup + seconds)
        )
        busy = cpu.percent()
        time.sleep(10.0)  # the last emails of the stream
        outbox = asyncio.run(_outbox_times(settings))
        seen, seen_wall = dict(arrivals.seen), dict(arrivals.seen_wall)
    start = min(sent_at.values(), default=0.0) + warmup
    warm = [a for a in seen if a in sent_at and sent_at[a] < start]
    measured = [a for a in seen if a in sent_at and sent_at[a] >= start]
    latencies = sorted(seen[a] - sent_at[a] for a in measured)
    warmup_max = max((seen[a] - sent_at[a] for a in warm), default=0.0)
    by_slice: dict[int, list[float]] = {}
    for a in measured:
        by_slice.setdefault(int((sent_at[a] - start) // 15), []).append(seen[a] - sent_at[a])
    if not latencies:
        raise RuntimeError("no apology arrived")
    # The two legs, on the wall clock: answer produced -> action on the outbox topic
    # (decode, join, planner, publish), and -> email at the SMTP server (delivery).
    wall = {a: seen_wall[a] for a in measured if a in outbox}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=750.0, help="events per second")
    parser.add_argument(
        "--find-max",
        action="store_true",
        help="first find the maximum input rate (bench.max_rate), then run at half of it",
    )
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
    rate = args.rate
    found: dict[str, Any] = {}
    if args.find_max:
        found = find_max_rate(kafka=args.kafka)
        for step in found["steps"]:
            print(json.dumps(step))
        if not found["limit_found"] or found["max_rate"] <= 0:
            raise SystemExit(f"no maximum rate found: {found}")
        rate = found["max_rate"] / 2
        print(f"maximum input rate {found['max_rate']:.0f} events/s; measuring at {rate:.0f}")
    figures = run(
        rate,
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
    if found:
        figures["max_rate"] = found["max_rate"]
        figures["ratio_to_max_rate"] = rate / found["max_rate"]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
