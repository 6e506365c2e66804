"""Baseline for the throughput benchmark: a bare Faust app that only deserialises and counts.

Declares one ``faust.Record`` per contract event kind (``Feedback``, ``Logistics``,
``Customer``, fields as in the event contract), subscribes one agent per input topic
with ``value_type=<Record>`` and the JSON value serializer, and counts the values it
is given. Nothing else happens per event: no validation beyond what the Record does,
no state. The window from the first to the ``--expect``-th value is timed inside the
process (wall clock and CPU time of all its threads) and written as JSON to
``--result``; the parent then stops the worker with SIGTERM (the process also stops
itself shortly after writing the result).

Run by :mod:`bench.throughput`; by hand::

    python -m bench.bare_faust --broker 127.0.0.1:9092 \\
        --topics cx.feedback,cx.logistics,cx.customers --expect 210000 \\
        --group bare-1 --result /tmp/bare.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import faust

__all__ = ["Counter", "Customer", "Feedback", "Logistics", "create_app", "main"]


class Feedback(faust.Record, serializer="json", isodates=True, coerce=True):
    """``kind = "feedback"``: an answer to the post-order survey."""

    kind: str
    event_id: str
    ts: datetime
    customer_id: str
    score: int
    channel: str
    country: str
    order_id: str | None = None
    reasons: list[str] | None = None
    effort: int | None = None
    region: str | None = None
    segment: str | None = None
    touchpoint: str | None = None
    comment: str | None = None
    language: str | None = None


class Logistics(faust.Record, serializer="json", isodates=True, coerce=True):
    """``kind = "logistics"``: something that happened to an order."""

    kind: str
    event_id: str
    ts: datetime
    order_id: str
    customer_id: str
    type: str
    country: str
    region: str | None = None
    carrier: str | None = None
    origin: str | None = None
    promised_date: date | None = None
    eta: datetime | None = None
    channel: str | None = None
    segment: str | None = None
    reason: str | None = None


class Customer(faust.Record, serializer="json", isodates=True, coerce=True):
    """``kind = "customer"``: a CRM profile (latest wins)."""

    kind: str
    event_id: str
    ts: datetime
    customer_id: str
    email: str | None = None
    name: str | None = None
    language: str | None = None
    segment: str | None = None
    country: str | None = None
    contact_opt_out: bool | None = None


class Counter:
    """Counts values and times the window from the first to the ``expect``-th one."""

    def __init__(self, expect: int, result: Path) -> None:
        self.expect = expect
        self.result = result
        self.count = 0
        self.first: float | None = None
        self.first_cpu = 0.0
        self.done = asyncio.Event()

    def add(self) -> None:
        now = time.perf_counter()
        self.count += 1
        if self.first is None:
            self.first = now
            self.first_cpu = time.process_time()
        if self.count == self.expect:
            self._write(now, time.process_time())
            self.done.set()

    def _write(self, last: float, last_cpu: float) -> None:
        assert self.first is not None
        elapsed = last - self.first
        body = {
            "events": self.count,
            "elapsed_s": elapsed,
            "events_per_s": (self.count - 1) / elapsed if elapsed > 0 else 0.0,
            "cpu_s": last_cpu - self.first_cpu,
        }
        tmp = self.result.with_suffix(".tmp")
        tmp.write_text(json.dumps(body))
        os.replace(tmp, self.result)


def create_app(
    broker: str, topics: tuple[str, str, str], group: str, counter: Counter, datadir: Path
) -> faust.App:
    """The baseline app: three topics (feedback, logistics, customers), one counting agent
    per topic."""
    app = faust.App(
        group,
        broker=[f"kafka://{host.strip()}" for host in broker.split(",")],
        store="memory://",
        value_serializer="json",
        key_serializer="raw",
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=2.0,
        broker_heartbeat_interval=0.5,
        broker_rebalance_timeout=4.0,
        web_enabled=False,
        datadir=str(datadir),
        topic_disable_leader=True,
    )
    for name, model in zip(topics, (Feedback, Logistics, Customer), strict=True):
        channel = app.topic(name, key_type=bytes, value_type=model, value_serializer="json")

        async def count(stream: faust.StreamT[Any]) -> None:
            async for _value in stream:
                counter.add()

        app.agent(channel, name=f"bare-{model.__name__.lower()}")(count)

    @app.task
    async def stop_when_done() -> None:
        await counter.done.wait()
        await asyncio.sleep(1.0)  # the parent normally stops us first
        os.kill(os.getpid(), signal.SIGTERM)  # the worker's own clean shutdown

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--topics", required=True, help="feedback,logistics,customers topics")
    parser.add_argument("--expect", type=int, required=True, help="events to count")
    parser.add_argument("--group", required=True, help="consumer group / Faust app id")
    parser.add_argument("--result", type=Path, required=True, help="JSON result file")
    parser.add_argument("--datadir", type=Path, default=None)
    args = parser.parse_args(argv)
    names = tuple(t.strip() for t in args.topics.split(","))
    if len(names) != 3:
        parser.error("--topics takes three comma-separated names")
    with tempfile.TemporaryDirectory(prefix="cxbench-bare-") as scratch:
        datadir = args.datadir or Path(scratch)
        counter = Counter(args.expect, args.result)
        app = create_app(args.broker, names, args.group, counter, datadir)  # type: ignore[arg-type]
        worker = faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False)
        worker.spinner = None
        worker.execute_from_commandline()  # ends in SystemExit; the scratch dir is removed


if __name__ == "__main__":
    main()
