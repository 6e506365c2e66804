"""Dispatcher throughput and latency against local Slack and SMTP servers.

Delivers ``--actions`` apology emails (aiosmtplib to an aiosmtpd server on loopback)
and ``--actions`` Slack alerts (slack-sdk to the local Slack Web API server, charts
off) through :class:`~cxstream.notify.dispatch.ActionDispatcher` with Redis
idempotency records (an embedded Redis), one action at a time as the delivery agent
does, and prints actions/s per kind and the p50/p99 of one delivery (claim, send,
record). Run: ``python -m bench.bench_dispatch [--actions 500]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime
from functools import partial

import redis.asyncio as aioredis
from cxstream.agents.delivery import KeyedLanes, lane_key

from cxstream.delivery_settings import DispatchSettings, SlackSettings, SmtpSettings
from cxstream.embedded import EmbeddedRedis
from cxstream.notify.contacts import Contact, DictContactDirectory
from cxstream.notify.dispatch import ActionDispatcher
from cxstream.notify.idempotency import RedisIdempotencyStore
from cxstream.notify.slack import SlackNotifier
from cxstream.notify.smtp import EmailNotifier
from cxstream.records import ActionRecord, AlertRecord, action_id
from tests.servers.slack_api import TEST_TOKEN, FakeSlackServer
from tests.servers.smtp import SmtpServer

__all__ = ["main", "run"]

AT = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _apology(i: int) -> ActionRecord:
    return ActionRecord(
        action_id=action_id("apology", f"order:o{i}"),
        type="apology_email",
        at=AT,
        rule="apology",
        order_id=f"o{i}",
        customer_id=f"c{i}",
        detail={
            "template": "apology_delivery",
            "language": "de",
            "reasons": ["delivery_late"],
            "score": 3,
            "delay_notice_sent": False,
        },
    )


def _alert(i: int) -> ActionRecord:
    alert = AlertRecord(
        alert_id=f"a{i}",
        rule="late-rate",
        status="firing",
        at=AT,
        kpi="late_rate",
        segment={"country": "FR", "carrier": "colissimo"},
        value=0.4,
        expected=0.05,
        score=1.0,
        severity="critical",
    )
    return ActionRecord(
        action_id=action_id("late-rate", f"group:{i}", "1"),
        type="slack_alert",
        at=AT,
        rule="late-rate",
        detail={
            "receiver": "logistics",
            "channel": "#logistics-alerts",
            "group_key": f"g{i}",
            "status": "firing",
            "alerts": [alert.as_dict()],
        },
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _timed(
    dispatcher: ActionDispatcher, action: ActionRecord, latencies: list[float]
) -> None:
    start = time.perf_counter()
    result = await dispatcher.dispatch(action)
    latencies.append(time.perf_counter() - start)
    assert result.status == "sent", result


async def run(actions: int, concurrency: int = 16) -> dict[str, float]:
    slack = FakeSlackServer(channels={"logistics-alerts": "C0LOG"})
    await slack.start()
    figures: dict[str, float] = {"actions_per_kind": actions, "concurrency": concurrency}
    try:
        with SmtpServer() as smtp, EmbeddedRedis() as redis_server:
            client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
            contacts = DictContactDirectory(
                Contact(f"c{i}", email=f"c{i}@example.com", language="de") for i in range(actions)
            )
            dispatcher = ActionDispatcher(
                {
                    "slack": SlackNotifier(
                        SlackSettings(token=TEST_TOKEN, base_url=slack.base_url, charts=False)
                    ),
                    "email": EmailNotifier(
                        SmtpSettings(
                            host=smtp.host,
                            port=smtp.port,
                            security="none",
                            from_address="service@shop.test",
                        ),
                        contacts,
                    ),
                },
                RedisIdempotencyStore(client, key_prefix="bench"),
                settings=DispatchSettings(),
            )
            try:
                for kind, make in (("email", _apology), ("slack", _alert)):
                    latencies: list[float] = []
                    lanes = KeyedLanes(concurrency)
                    began = time.perf_counter()

                    for i in range(actions):
                        action = make(i)
                        await lanes.submit(
                            lane_key(action), partial(_timed, dispatcher, action, latencies)
                        )
                    await lanes.drain()
                    elapsed = time.perf_counter() - began
                    figures[f"{kind}_actions_per_s"] = actions / elapsed
                    figures[f"{kind}_p50_ms"] = 1000 * statistics.median(latencies)
                    figures[f"{kind}_p99_ms"] = 1000 * _percentile(latencies, 0.99)
                figures["smtp_messages"] = len(smtp.messages())
                figures["smtp_connections"] = dispatcher.notifiers["email"].pool.opened  # type: ignore[attr-defined]
            finally:
                await dispatcher.aclose()
                await client.aclose()
    finally:
        await slack.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16, help="1: one at a time")
    args = parser.parse_args()
    figures = asyncio.run(run(args.actions, args.concurrency))
    for name, value in figures.items():
        print(f"{name:24s} {value:10.1f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
