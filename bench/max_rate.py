"""The highest live input rate the worker keeps up with, on this machine and broker.

Starts the latency benchmark's servers and worker (:mod:`bench.latency_rig`) once and
produces a live stream (each event's ``ts`` the moment it is produced) whose rate rises
in steps: ``--rates`` events/s, ``--step`` seconds each. At the end of each step it
reads from the worker's ``/stats/`` how many events it has received: the step is kept
up with when the events produced but not yet received are at most ``--slack`` seconds'
worth at that step's rate (a worker that falls behind builds a backlog that grows for
as long as the step lasts). The maximum input rate is the last step kept up with before
the first that was not. Everything shares the machine (producer, broker, Redis, worker,
SMTP server), as in :mod:`bench.bench_latency`, which runs this first with
``--find-max`` and then measures latency at half the rate found.

Run: ``python -m bench.max_rate [--rates 250,500,750,1000,1500,2000] [--step 30]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from bench.latency_rig import Rig, latency_rig, produce_live

__all__ = ["DEFAULT_RATES", "find_max_rate", "main"]

DEFAULT_RATES = (250.0, 500.0, 750.0, 1000.0, 1250.0, 1500.0, 2000.0, 2500.0, 3000.0, 4000.0)


async def _ramp(
    rig: Rig, rates: Sequence[float], step_s: float, slack_s: float
) -> list[dict[str, Any]]:
    produced = 0

    def sent() -> None:
        nonlocal produced
        produced += 1

    def rate(elapsed: float) -> float:
        return rates[min(int(elapsed // step_s), len(rates) - 1)]

    producer = asyncio.create_task(
        produce_live(rig.settings, rate, step_s * len(rates), days=14, on_sent=sent)
    )
    steps: list[dict[str, Any]] = []
    start = time.monotonic()
    cpu = rig.cpu_meter()
    try:
        for n, step_rate in enumerate(rates):
            await asyncio.sleep(max(0.0, start + (n + 1) * step_s - time.monotonic()))
            stats = await asyncio.to_thread(rig.worker.stats) or {}
            unread = produced - int(stats.get("received", 0))
            kept_up = unread <= slack_s * step_rate
            steps.append(
                {
                    "rate": step_rate,
                    "produced": produced,
                    "unread": unread,
                    "kept_up": kept_up,
                    **{f"{k}_cpu_pct": round(v, 1) for k, v in cpu.percent().items()},
                }
            )
            cpu = rig.cpu_meter()
            if not kept_up or producer.done():
                break
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)
    return steps


def find_max_rate(
    rates: Sequence[float] = DEFAULT_RATES,
    *,
    step_s: float = 30.0,
    slack_s: float = 2.0,
    kafka: str | None = None,
) -> dict[str, Any]:
    """Ramp the input rate through ``rates``; returns the steps and ``max_rate``, the last
    rate kept up with before the first that was not (0 if the first was not; the last
    rate if all were: the ramp did not find the limit)."""
    with latency_rig(kafka=kafka) as rig:
        steps = asyncio.run(_ramp(rig, sorted(rates), step_s, slack_s))
    kept = [s["rate"] for s in steps if s["kept_up"]]
    limited = any(not s["kept_up"] for s in steps)
    return {
        "max_rate": max(kept, default=0.0),
        "limit_found": limited,
        "step_s": step_s,
        "slack_s": slack_s,
        "steps": steps,
    }


def parse_rates(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates", type=parse_rates, default=list(DEFAULT_RATES), help="comma-separated"
    )
    parser.add_argument("--step", type=float, default=30.0, help="seconds per rate")
    parser.add_argument("--slack", type=float, default=2.0, help="seconds of backlog allowed")
    parser.add_argument("--kafka", help="external broker host:port (default: embedded Tansu)")
    args = parser.parse_args()
    found = find_max_rate(args.rates, step_s=args.step, slack_s=args.slack, kafka=args.kafka)
    for step in found["steps"]:
        print(json.dumps(step))
    print(f"max_rate {found['max_rate']:.0f} events/s (limit found: {found['limit_found']})")
    print(json.dumps(found))


if __name__ == "__main__":
    main()
