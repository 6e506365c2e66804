"""The planner's records in a real Redis (single node and Cluster): decided once, re-run safe.

The engine runs on :class:`RedisStateStore` and the planner on :class:`RedisPlannerState`
and :class:`RedisProfileReader`, each test under a key prefix of its own. Covered: every
script's keys share one slot; a delay notice is decided again identically while its
batch is not committed and never after; two workers planning answers of one customer
at the same time decide one apology; vouchers are unique and stable; VIP tasks; task
acknowledgements and ``cxstream tasks ack`` against Redis.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from redis.crc import key_slot

from cxstream.cli import main
from cxstream.config import Settings
from cxstream.decoding import Envelope, FileOrigin
from cxstream.engine import BatchOutcome, Engine, EngineOptions
from cxstream.events import event_adapter
from cxstream.partitioning import partition_for
from cxstream.planning import (
    ActionPlanner,
    PlannerKeys,
    RedisPlannerState,
    RedisProfileReader,
    RedisTaskAcknowledgements,
    acknowledged_key,
)
from cxstream.records import ActionRecord, action_id
from cxstream.redis_store import RedisStateStore
from cxstream.rules import RuleSet, VoucherPool, load_rules

pytestmark = pytest.mark.integration

RULES = load_rules(Path(__file__).resolve().parents[2] / "rules")
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)
DAY = timedelta(days=1)
LATE_ETA = datetime(2026, 3, 6, 12, tzinfo=UTC)


def _with_vouchers(codes: Sequence[str]) -> RuleSet:
    rules = tuple(
        r.model_copy(update={"voucher_pool": "sorry"}) if r.name == "apology" else r
        for r in RULES.rules
    )
    pool = VoucherPool(name="sorry", codes=tuple(codes))
    return RULES.model_copy(update={"rules": rules, "voucher_pools": (pool,)})


VOUCHER_RULES = _with_vouchers([f"SORRY-{i:03d}" for i in range(50)])


@pytest.fixture(params=["single-node", "cluster"])
def settings(request: pytest.FixtureRequest, redis_url: str) -> Settings:
    cluster = request.param == "cluster"
    return Settings(
        redis_url=request.getfixturevalue("redis_cluster_url") if cluster else redis_url,
        redis_cluster=cluster,
        key_prefix=f"t{uuid.uuid4().hex[:12]}",
        partitions=4,
    )


class Worker:
    """One worker: its own Redis client, engine and planner."""

    def __init__(self, settings: Settings, rules: RuleSet = VOUCHER_RULES) -> None:
        self.store = RedisStateStore.from_settings(settings)
        client = self.store.client
        self.engine = Engine(self.store, EngineOptions(partitions=settings.partitions))
        self.state = RedisPlannerState.from_settings(settings, client)
        self.planner = ActionPlanner(
            rules,
            self.state,
            partitions=settings.partitions,
            profiles=RedisProfileReader.from_settings(settings, client),
        )

    async def prepare(self, payloads: Sequence[dict[str, Any]]) -> BatchOutcome:
        return await self.engine.prepare(envelopes(payloads))

    async def run(
        self, payloads: Sequence[dict[str, Any]], *, commit: bool = True
    ) -> list[ActionRecord]:
        outcome = await self.prepare(payloads)
        actions = await self.planner.plan(outcome, [])
        if commit:
            await self.engine.commit(outcome)
        return actions

    async def close(self) -> None:
        await self.store.close()


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[Worker]:
    opened = Worker(settings)
    try:
        yield opened
    finally:
        await opened.close()


_ids = iter(range(1, 10_000_000))


def event(kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "event_id": f"e-{next(_ids)}", "ts": at.isoformat(), **fields}


def profile(customer: str, at: datetime = T0 - DAY, **fields: Any) -> dict[str, Any]:
    data = {"email": f"{customer}@shop.example", "language": "de", **fields}
    return event("customer", at, customer_id=customer, **data)


def logistics(kind: str, at: datetime, order: str, customer: str, **fields: Any) -> dict[str, Any]:
    return event(
        "logistics", at, order_id=order, customer_id=customer, type=kind, country="DE", **fields
    )


def answer(at: datetime, score: int, order: str, customer: str, **fields: Any) -> dict[str, Any]:
    return event(
        "feedback",
        at,
        customer_id=customer,
        order_id=order,
        score=score,
        channel="app",
        country="DE",
        **fields,
    )


def envelopes(payloads: Sequence[dict[str, Any]]) -> list[Envelope]:
    return [
        Envelope(
            event_adapter.validate_json(json.dumps(p)),
            FileOrigin("test.jsonl", i),
            f"cx.{p['kind']}/0",
            i,
        )
        for i, p in enumerate(payloads, start=1)
    ]


async def test_each_script_touches_one_slot(settings: Settings) -> None:
    keys = PlannerKeys(settings.key_prefix)
    p = partition_for("o-1", settings.partitions)
    order_key = keys.layout.order(p, "o-1")
    assert key_slot(keys.notice(p, "delay-notice", "o-1").encode()) == key_slot(order_key.encode())
    c = partition_for("c-1", settings.partitions)
    assert key_slot(keys.decided(c, "apology:x").encode()) == key_slot(
        keys.apologies(c, "apology", "c-1").encode()
    )
    assert key_slot(keys.voucher_free("sorry").encode()) == key_slot(
        keys.voucher_assigned("sorry").encode()
    )
    assert key_slot(keys.voucher_known("sorry").encode()) == key_slot(
        keys.voucher_free("sorry").encode()
    )


async def test_a_notice_is_decided_again_until_its_batch_is_committed(
    worker: Worker, settings: Settings
) -> None:
    await worker.run([profile("c-1")])
    batch = [
        logistics("order_placed", T0, "o-1", "c-1", promised_date="2026-03-04"),
        logistics("shipped", T0 + H, "o-1", "c-1", carrier="dhl", eta=LATE_ETA.isoformat()),
    ]
    first = await worker.run(batch, commit=False)
    assert [a.action_id for a in first] == [action_id("delay-notice", "order:o-1")]
    assert first[0].detail["language"] == "de"
    # The commit failed: the batch is run again, the first half alone as well.
    assert await worker.run(batch[:1] + batch[1:], commit=False) == first
    assert await worker.run(batch) == first
    assert await worker.run([logistics("in_transit", T0 + 2 * H, "o-1", "c-1")]) == []

    keys = PlannerKeys(settings.key_prefix)
    notice_key = keys.notice(partition_for("o-1", settings.partitions), "delay-notice", "o-1")
    client = worker.store.client
    assert await client.hget(notice_key, "fp") == "settled"
    ttl = await client.ttl(notice_key)
    assert 0 < ttl <= int(settings.order_ttl_days * 86400)


async def test_two_workers_answering_for_one_customer_decide_one_apology(
    settings: Settings,
) -> None:
    a, b = Worker(settings), Worker(settings)
    try:
        customers = [f"c-{i}" for i in range(12)]
        await a.run([profile(c) for c in customers])
        outcomes_a = [
            await a.prepare([answer(T0, 2, f"o-a-{c}", c, reasons=["delivery_late"])])
            for c in customers
        ]
        outcomes_b = [
            await b.prepare([answer(T0 + H, 1, f"o-b-{c}", c, reasons=["wrong_item"])])
            for c in customers
        ]
        results = await asyncio.gather(
            *(a.planner.plan(o, []) for o in outcomes_a),
            *(b.planner.plan(o, []) for o in outcomes_b),
        )
        by_customer: dict[str, list[ActionRecord]] = {}
        for actions in results:
            for action in actions:
                assert action.customer_id is not None
                by_customer.setdefault(action.customer_id, []).append(action)
        assert sorted(by_customer) == sorted(customers)
        assert all(len(actions) == 1 for actions in by_customer.values())
        codes = [acts[0].detail["voucher"] for acts in by_customer.values()]
        assert len(set(codes)) == len(customers)
        # Each worker runs its batches again (their commits failed): the same outcome.
        again = await asyncio.gather(
            *(b.planner.plan(o, []) for o in outcomes_b),
            *(a.planner.plan(o, []) for o in outcomes_a),
        )
        assert again[len(customers) :] + again[: len(customers)] == results
    finally:
        await a.close()
        await b.close()


async def test_a_vip_gets_one_task_and_its_reminders(worker: Worker) -> None:
    await worker.run([profile("c-v", segment="vip")])
    batch = [answer(T0, 0, "o-v", "c-v", reasons=["app_crash"])]
    first = await worker.run(batch, commit=False)
    # The task, and the shipped rule's three reminders (at the SLA, then every 2h).
    assert [a.type for a in first] == ["apology_email"] + ["vip_apology_task"] * 4
    assert first[0].detail["voucher"] == "SORRY-000"
    assert await worker.run(batch) == first
    assert await worker.run([answer(T0 + DAY, 1, "o-v", "c-v")]) == []


async def test_a_pool_runs_out(settings: Settings) -> None:
    small = Worker(settings, _with_vouchers(["ONLY-ONE"]))
    try:
        await small.run([profile("c-1"), profile("c-2")])
        actions = await small.run([answer(T0, 1, "o-1", "c-1"), answer(T0, 1, "o-2", "c-2")])
        assert [a.detail.get("voucher") for a in actions] == ["ONLY-ONE", None]
    finally:
        await small.close()


async def test_acknowledgements_in_redis(worker: Worker, settings: Settings) -> None:
    acks = RedisTaskAcknowledgements(worker.store.client, key_prefix=settings.key_prefix)
    assert not await acks.is_acknowledged("vip-callback:1")
    made = await acks.acknowledge("vip-callback:1", by="ana", at=T0)
    assert await acks.is_acknowledged("vip-callback:1")
    assert await acks.acknowledge("vip-callback:1", by="ben", at=T0 + H) == made
    assert await acks.acknowledgement("vip-callback:1") == made
    key = acknowledged_key("vip-callback:1", settings.key_prefix)
    assert 0 < await worker.store.client.ttl(key) <= 30 * 86400


def test_the_cli_acknowledges_in_the_configured_redis(redis_url: str, tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"redis_url": redis_url, "key_prefix": prefix}))
    runner = CliRunner()
    args = ["tasks", "ack", "vip-callback:9", "--by", "ana", "--config", str(config)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("acknowledged vip-callback:9 by ana at ")

    async def check() -> bool:
        settings = Settings(redis_url=redis_url, key_prefix=prefix)
        acks = RedisTaskAcknowledgements.from_settings(settings)
        try:
            return await acks.is_acknowledged("vip-callback:9")
        finally:
            await acks.close()

    assert asyncio.run(check())
