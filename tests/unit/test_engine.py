"""The engine folds batches into the state store exactly once, whatever is redelivered.

Runs :class:`Engine` against :class:`MemoryStateStore` and covers: repeated event ids,
NPS and reason counters, the join of feedback with its order and customer "as of" the
answer's time (carrier, promised date and segment known then), the configured segment
series, the split into :meth:`Engine.prepare` (decides, writes nothing) and
:meth:`Engine.commit`, the per-partition changes it hands to the store, and the delivery
guarantees the worker relies on: a batch processed twice, a batch whose commit failed
(retried, or redone by a restarted worker), and a restarted or rebalanced worker
re-reading events that were already applied all give the counters of a clean run.

A failure after the store committed a partition but before it added the counters is
the Redis store's journal's business; it is covered against a real Redis in
``tests/integration/test_redis_store.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.config import Settings
from cxstream.decoding import Envelope, FileOrigin
from cxstream.engine import Engine, EngineOptions
from cxstream.events import event_adapter
from cxstream.memory_store import MemoryStateStore
from cxstream.partitioning import partition_for
from cxstream.store import StateChanges

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
OPTIONS = EngineOptions(
    partitions=4,
    bucket_seconds=900,
    series=(
        (),
        ("country",),
        ("country", "carrier"),
        ("country", "segment"),
        ("country", "channel"),
    ),
)

# -- building events --------------------------------------------------------------------------


def iso(at: datetime) -> str:
    return at.isoformat()


def feedback(event_id: str, at: datetime, score: int, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "feedback",
        "event_id": event_id,
        "ts": iso(at),
        "customer_id": "c-1",
        "score": score,
        "channel": "app",
        "country": "DE",
        **fields,
    }


def logistics(event_id: str, at: datetime, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "logistics",
        "event_id": event_id,
        "ts": iso(at),
        "order_id": "o-1",
        "customer_id": "c-1",
        "type": kind,
        "country": "DE",
        **fields,
    }


def customer(event_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {"kind": "customer", "event_id": event_id, "ts": iso(at), "customer_id": "c-1", **fields}


STREAM_OF_KIND = {
    "feedback": "cx.feedback/0",
    "logistics": "cx.logistics/0",
    "customer": "cx.customers/0",
}


def envelopes(payloads: Sequence[dict[str, Any]]) -> list[Envelope]:
    """Decode payloads as they come off the wire (each kind on its own stream)."""
    out: list[Envelope] = []
    for line, payload in enumerate(payloads, start=1):
        event = event_adapter.validate_json(json.dumps(payload))
        out.append(
            Envelope(event, FileOrigin("test.jsonl", line), STREAM_OF_KIND[event.kind], line)
        )
    return out


def mixed_payloads(count: int) -> list[dict[str, Any]]:
    """A realistic mix: orders placed, shipped and delivered (some late), answers about
    them, profile updates, and now and then a redelivered event."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        if i % 11 == 10:
            out.append(out[i - 4])  # a redelivery: same event, later position
            continue
        at = T0 + timedelta(minutes=10 * i)
        k = i // 5
        order, cust = f"o-{k}", f"c-{k % 7}"
        step = i % 5
        if step == 0:
            promised = (T0 + timedelta(days=k % 3)).date().isoformat()
            payload = logistics(
                f"e{i}", at, "order_placed", order_id=order, customer_id=cust,
                promised_date=promised, channel="web" if k % 2 else "app",
            )  # fmt: skip
        elif step == 1:
            carrier = ("dhl", "dpd", "ups")[k % 3]
            payload = logistics(
                f"e{i}", at, "shipped", order_id=order, customer_id=cust, carrier=carrier
            )
        elif step == 2:
            payload = logistics(f"e{i}", at, "delivered", order_id=order, customer_id=cust)
        elif step == 3:
            score = (k * 7) % 11
            reasons = ["delivery_late"] if score < 7 else []
            payload = feedback(
                f"e{i}", at, score, order_id=order, customer_id=cust, reasons=reasons,
                effort=k % 7 + 1, channel=("app", "web", "email")[k % 3],
            )  # fmt: skip
        else:
            payload = customer(f"e{i}", at, customer_id=cust, segment=("vip", "regular")[k % 2])
        out.append(payload)
    return out


# -- reading results ---------------------------------------------------------------------------


def state_of(store: MemoryStateStore) -> dict[str, Any]:
    """Everything a later stage can read: counters per series and bucket, orders, profiles."""
    return {
        "buckets": {sid: dict(b) for sid, b in store.buckets.items() if b},
        "dims": dict(store.dims),
        "seen": set(store.seen),
        "orders": dict(store.orders),
        "customers": dict(store.customers),
    }


def totals(store: MemoryStateStore, sid: str = "all") -> dict[str, float]:
    out: dict[str, float] = {}
    for counters in store.buckets.get(sid, {}).values():
        for name, value in counters.items():
            out[name] = out.get(name, 0) + value
    return out


async def clean_run(batch: Sequence[Envelope]) -> dict[str, Any]:
    store = MemoryStateStore()
    await Engine(store, OPTIONS).process(list(batch))
    return state_of(store)


async def run(*batches: Sequence[Envelope]) -> MemoryStateStore:
    store = MemoryStateStore()
    engine = Engine(store, OPTIONS)
    for batch in batches:
        await engine.process(list(batch))
    return store


class StoreDown(RuntimeError):
    pass


class FailingStore(MemoryStateStore):
    """On request, the next ``apply`` calls fail before anything is written (the store's
    apply is all-or-nothing, so that is the only way it can fail)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures_left = 0
        self.applied: list[StateChanges] = []

    async def apply(self, changes: StateChanges) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise StoreDown("connection lost before the commit")
        self.applied.append(changes)
        await super().apply(changes)


# -- repeated events ---------------------------------------------------------------------------


async def test_same_event_twice_in_one_batch_is_counted_once() -> None:
    answer = feedback("fb-1", T0, 3)
    store = MemoryStateStore()
    outcome = await Engine(store, OPTIONS).process(envelopes([answer, answer]))
    assert (outcome.accepted, outcome.duplicates) == (1, 1)
    assert totals(store)["responses"] == 1
    assert totals(store)["detractors"] == 1


async def test_same_event_in_two_batches_is_counted_once() -> None:
    answer = feedback("fb-1", T0, 9)
    store = MemoryStateStore()
    engine = Engine(store, OPTIONS)
    first = envelopes([answer])
    redelivered = [Envelope(first[0].event, first[0].origin, first[0].stream, 2)]
    await engine.process(first)
    outcome = await engine.process(redelivered)
    assert (outcome.accepted, outcome.duplicates) == (0, 1)
    assert totals(store) == {"responses": 1, "promoters": 1}


async def test_repeated_delivered_event_counts_one_delivery() -> None:
    placed = logistics("l-1", T0, "order_placed", promised_date="2026-03-03")
    delivered = logistics("l-2", T0 + timedelta(days=3), "delivered")
    store = await run(envelopes([placed, delivered]), envelopes([delivered]))
    counts = totals(store)
    assert counts["delivered"] == 1
    assert counts["delivered_late"] == 1
    assert counts["delay_days"] == 2


async def test_second_delivered_event_with_a_new_id_does_not_count_again() -> None:
    placed = logistics("l-1", T0, "order_placed")
    scans = [logistics(f"l-{i}", T0 + timedelta(days=1, hours=i), "delivered") for i in (2, 3)]
    store = await run(envelopes([placed, *scans]))
    assert totals(store)["delivered"] == 1


# -- counters -----------------------------------------------------------------------------------


async def test_nps_counters_split_answers_into_classes() -> None:
    scores = [10, 9, 8, 7, 6, 0, 3]
    answers = [feedback(f"fb-{i}", T0, s) for i, s in enumerate(scores)]
    store = await run(envelopes(answers))
    counts = totals(store)
    assert counts["responses"] == 7
    assert (counts["promoters"], counts["passives"], counts["detractors"]) == (2, 2, 3)


async def test_reason_and_effort_counters() -> None:
    answers = [
        feedback("fb-1", T0, 2, reasons=["delivery_late", "support_unreachable"], effort=6),
        feedback("fb-2", T0, 8, reasons=["delivery_late"], effort=2),
        feedback("fb-3", T0, 10),
    ]
    store = await run(envelopes(answers))
    counts = totals(store)
    assert counts["reason:delivery_late"] == 2
    assert counts["reason:support_unreachable"] == 1
    assert counts["det_reason:delivery_late"] == 1
    assert counts["det_reason:support_unreachable"] == 1
    assert (counts["effort_n"], counts["effort_sum"]) == (2, 8)


async def test_logistics_counters_of_an_order_lifecycle() -> None:
    events = [
        logistics("l-1", T0, "order_placed", promised_date="2026-03-04"),
        logistics("l-2", T0 + timedelta(hours=5), "shipped", carrier="dhl"),
        logistics(
            "l-3",
            T0 + timedelta(days=1),
            "delivery_exception",
            reason="weather",
            eta="2026-03-06T12:00:00Z",
        ),
        logistics("l-4", T0 + timedelta(days=4), "delivered"),
        logistics("l-5", T0 + timedelta(days=5), "return_registered"),
        logistics("l-6", T0 + timedelta(days=7), "return_received"),
        logistics("l-7", T0 + timedelta(days=7, hours=30), "refund_issued"),
    ]
    store = await run(envelopes(events))
    assert totals(store) == {
        "placed": 1,
        "shipped": 1,
        "exceptions": 1,
        "exception:weather": 1,
        "predicted_late": 1,
        "delivered": 1,
        "delivered_late": 1,
        "delay_days": 2,
        "returns": 1,
        "refunds": 1,
        "refunds_timed": 1,
        "refund_hours": 30,
    }


async def test_counters_land_in_the_event_time_bucket() -> None:
    early = feedback("fb-1", T0, 10)
    late = feedback("fb-2", T0 + timedelta(minutes=20), 0)
    store = await run(envelopes([late, early]))
    first = int(T0.timestamp()) // OPTIONS.bucket_seconds
    assert store.buckets["all"] == {
        first: {"responses": 1, "promoters": 1},
        first + 1: {"responses": 1, "detractors": 1},
    }


# -- the join with orders ---------------------------------------------------------------------


def late_order() -> list[dict[str, Any]]:
    """Promised for March 3, shipped with DHL, delivered March 5."""
    return [
        logistics("l-1", T0, "order_placed", promised_date="2026-03-03", channel="web"),
        logistics("l-2", T0 + timedelta(hours=6), "shipped", carrier="dhl"),
        logistics("l-3", T0 + timedelta(days=3), "delivered"),
    ]


async def test_answer_about_a_late_order_counts_as_detractor_late() -> None:
    answer = feedback("fb-1", T0 + timedelta(days=4), 2, order_id="o-1")
    store = MemoryStateStore()
    outcome = await Engine(store, OPTIONS).process(envelopes([*late_order(), answer]))
    counts = totals(store)
    assert counts["linked"] == 1
    assert counts["late_linked"] == 1
    assert counts["detractors_linked"] == 1
    assert counts["detractors_late"] == 1
    (joined,) = outcome.feedback
    assert joined.late_days == 2
    assert joined.carrier == "dhl"
    assert joined.dims == {
        "country": "DE",
        "channel": "app",
        "segment": "unknown",
        "carrier": "dhl",
    }


async def test_answer_about_an_on_time_order_is_linked_but_not_late() -> None:
    events = [
        logistics("l-1", T0, "order_placed", promised_date="2026-03-05"),
        logistics("l-2", T0 + timedelta(days=1), "delivered"),
        feedback("fb-1", T0 + timedelta(days=2), 4, order_id="o-1"),
    ]
    counts = totals(await run(envelopes(events)))
    assert (counts["linked"], counts["detractors_linked"]) == (1, 1)
    assert "late_linked" not in counts
    assert "detractors_late" not in counts


async def test_answer_about_an_unknown_order_is_not_linked() -> None:
    answer = feedback("fb-1", T0, 1, order_id="o-never-seen")
    counts = totals(await run(envelopes([*late_order(), answer])))
    assert counts["responses"] == 1
    assert "linked" not in counts


async def test_carrier_dimension_comes_from_the_order() -> None:
    answer = feedback("fb-1", T0 + timedelta(days=4), 2, order_id="o-1")
    store = await run(envelopes([*late_order(), answer]))
    dhl = totals(store, "country=DE,carrier=dhl")
    assert dhl["responses"] == 1
    assert dhl["detractors_late"] == 1
    assert dhl["delivered_late"] == 1
    assert (await store.series())["country=DE,carrier=dhl"] == {"country": "DE", "carrier": "dhl"}


async def test_answer_without_an_order_has_no_carrier_series() -> None:
    store = await run(envelopes([feedback("fb-1", T0, 2)]))
    assert "responses" in totals(store, "country=DE")
    assert not any("carrier=" in sid for sid in store.buckets)


async def test_order_events_after_the_answer_do_not_link_it() -> None:
    answer = feedback("fb-1", T0 - timedelta(hours=1), 2, order_id="o-1")
    store = MemoryStateStore()
    engine = Engine(store, OPTIONS)
    await engine.process(envelopes(late_order()))
    outcome = await engine.process(envelopes([answer]))
    counts = totals(store)
    assert "linked" not in counts
    assert outcome.feedback[0].order is None
    assert totals(store, "country=DE,carrier=dhl").get("responses") is None


async def test_delivery_after_the_answer_does_not_make_it_late() -> None:
    """Answer on March 3 (the promised day, parcel still on its way); the parcel is then
    delivered late. Reading the delivery first must not change the answer's lateness."""
    answer = feedback("fb-1", T0 + timedelta(days=1), 3, order_id="o-1")
    order = late_order()
    in_order = await run(envelopes([*order[:2], answer, order[2]]))
    logistics_ahead = await run(envelopes(order), envelopes([answer]))
    for store in (in_order, logistics_ahead):
        counts = totals(store)
        assert counts["linked"] == 1
        assert "detractors_late" not in counts
        assert totals(store, "country=DE,carrier=dhl")["responses"] == 1
    assert state_of(in_order)["buckets"] == state_of(logistics_ahead)["buckets"]


async def test_answer_while_order_is_overdue_counts_as_late_before_delivery() -> None:
    answer = feedback("fb-1", T0 + timedelta(days=2), 3, order_id="o-1")  # March 4, undelivered
    order = late_order()
    in_order = await run(envelopes([*order[:2], answer, order[2]]))
    logistics_ahead = await run(envelopes(order), envelopes([answer]))
    for store in (in_order, logistics_ahead):
        assert totals(store)["detractors_late"] == 1
    assert state_of(in_order)["buckets"] == state_of(logistics_ahead)["buckets"]


async def test_carrier_handover_after_the_answer_keeps_the_answer_carrier() -> None:
    answer = feedback("fb-1", T0 + timedelta(days=1), 2, order_id="o-1")
    handover = logistics("l-9", T0 + timedelta(days=2), "out_for_delivery", carrier="dpd")
    order = late_order()[:2]
    in_order = await run(envelopes([*order, answer, handover]))
    logistics_ahead = await run(envelopes([*order, handover]), envelopes([answer]))
    assert totals(in_order, "country=DE,carrier=dhl")["responses"] == 1
    assert totals(logistics_ahead, "country=DE,carrier=dhl").get("responses") == 1


async def test_new_promise_after_the_answer_does_not_change_its_lateness() -> None:
    answer = feedback("fb-1", T0 + timedelta(days=3), 2, order_id="o-1")  # 2 days overdue
    placed = logistics("l-1", T0, "order_placed", promised_date="2026-03-03")
    repromise = logistics(
        "l-2", T0 + timedelta(days=4), "delivery_exception", reason="weather",
        promised_date="2026-03-10",
    )  # fmt: skip
    in_order = await run(envelopes([placed, answer, repromise]))
    logistics_ahead = await run(envelopes([placed, repromise]), envelopes([answer]))
    assert totals(in_order)["detractors_late"] == 1
    assert totals(logistics_ahead).get("detractors_late") == 1


# -- the join with customers --------------------------------------------------------------------


async def test_profile_is_latest_wins_and_an_older_update_is_ignored() -> None:
    newer = customer("cu-2", T0 + timedelta(hours=2), segment="vip", email="new@example.com")
    older = customer("cu-1", T0 + timedelta(hours=1), segment="regular", email="old@example.com")
    answer = feedback("fb-1", T0 + timedelta(hours=3), 9)
    store = MemoryStateStore()
    engine = Engine(store, OPTIONS)
    await engine.process(envelopes([newer]))
    await engine.process(envelopes([older]))
    outcome = await engine.process(envelopes([answer]))
    profile = json.loads(store.customers["c-1"])
    assert profile["segment"] == "vip"
    assert profile["email"] == "new@example.com"
    assert outcome.feedback[0].dims["segment"] == "vip"
    assert totals(store, "country=DE,segment=vip")["responses"] == 1
    assert "country=DE,segment=regular" not in store.buckets


async def test_segment_comes_from_the_profile_when_the_answer_has_none() -> None:
    events = [
        customer("cu-1", T0, segment="vip"),
        feedback("fb-1", T0 + timedelta(hours=1), 10),
        feedback("fb-2", T0 + timedelta(hours=1), 10, segment="new"),
    ]
    store = await run(envelopes(events))
    assert totals(store, "country=DE,segment=vip")["responses"] == 1
    assert totals(store, "country=DE,segment=new")["responses"] == 1


async def test_segment_falls_back_to_the_order_then_unknown() -> None:
    events = [
        logistics("l-1", T0, "order_placed", segment="regular"),
        feedback("fb-1", T0 + timedelta(hours=1), 7, order_id="o-1"),
        feedback("fb-2", T0 + timedelta(hours=1), 7, customer_id="c-2"),
    ]
    store = await run(envelopes(events))
    assert totals(store, "country=DE,segment=regular")["responses"] == 1
    assert totals(store, "country=DE,segment=unknown")["responses"] == 1


async def test_profile_written_after_the_answer_does_not_give_it_a_segment() -> None:
    store = await run(
        envelopes([customer("cu-1", T0 + timedelta(hours=5), segment="vip")]),
        envelopes([feedback("fb-1", T0, 10)]),
    )
    assert totals(store, "country=DE,segment=unknown")["responses"] == 1
    assert "country=DE,segment=vip" not in store.buckets


async def test_profile_update_after_the_answer_keeps_the_answer_segment() -> None:
    before = customer("cu-1", T0, segment="vip")
    answer = feedback("fb-1", T0 + timedelta(hours=1), 10)
    after = customer("cu-2", T0 + timedelta(hours=2), segment="regular")
    in_order = await run(envelopes([before, answer, after]))
    customers_ahead = await run(envelopes([before, after]), envelopes([answer]))
    assert totals(in_order, "country=DE,segment=vip")["responses"] == 1
    assert totals(customers_ahead, "country=DE,segment=vip").get("responses") == 1


# -- series ---------------------------------------------------------------------------------------


async def test_only_the_configured_series_are_written() -> None:
    options = EngineOptions(partitions=4, series=((), ("country", "channel"), ("region",)))
    store = MemoryStateStore()
    events = envelopes(
        [feedback("fb-1", T0, 10, region="by"), feedback("fb-2", T0, 0, country="AT")]
    )
    await Engine(store, options).process(events)
    assert set(store.buckets) == {
        "all",
        "country=DE,channel=app",
        "country=AT,channel=app",
        "region=BY",
    }
    assert await store.series() == {
        "all": {},
        "country=DE,channel=app": {"country": "DE", "channel": "app"},
        "country=AT,channel=app": {"country": "AT", "channel": "app"},
        "region=BY": {"region": "BY"},
    }


def test_options_follow_the_settings() -> None:
    settings_ = Settings(partitions=12, bucket_seconds=300, series=[["carrier", "country"]])
    assert EngineOptions.from_settings(settings_) == EngineOptions(
        12, 300, (("country", "carrier"),)
    )


# -- processing guarantees ----------------------------------------------------------------------


async def test_outcome_reports_what_the_batch_did() -> None:
    events = envelopes([*late_order(), feedback("fb-1", T0, 9), customer("cu-1", T0)])
    outcome = await Engine(MemoryStateStore(), OPTIONS).process([*events, events[0]])
    assert outcome.accepted == 5
    assert outcome.duplicates == 1
    assert dict(outcome.by_kind) == {"logistics": 3, "feedback": 1, "customer": 1}
    assert set(outcome.orders) == {"o-1"}
    assert "all" in outcome.series


async def test_empty_batch_changes_nothing() -> None:
    store = MemoryStateStore()
    outcome = await Engine(store, OPTIONS).process([])
    assert outcome.accepted == 0
    assert state_of(store) == state_of(MemoryStateStore())


async def test_processing_the_same_batch_twice_equals_once() -> None:
    batch = envelopes(mixed_payloads(60))
    store = MemoryStateStore()
    engine = Engine(store, OPTIONS)
    await engine.process(batch)
    once = state_of(store)
    outcome = await engine.process(batch)
    assert outcome.accepted == 0
    assert not outcome.changes.partitions
    assert state_of(store) == once
    await Engine(store, OPTIONS).process(batch)  # and by a restarted worker
    assert state_of(store) == once == await clean_run(batch)


async def test_mixed_stream_gives_the_expected_totals() -> None:
    """A check on the data the guarantees below are tested with: it exercises joins."""
    counts = totals(await run(envelopes(mixed_payloads(150))))
    assert counts["responses"] > 20
    assert counts["detractors_late"] > 0
    assert counts["delivered_late"] > 0
    assert 0 < counts["linked"] <= counts["responses"]


async def test_prepare_writes_nothing_and_commit_writes_what_it_decided() -> None:
    events = envelopes(mixed_payloads(90))
    store = MemoryStateStore()
    engine = Engine(store, OPTIONS)
    outcome = await engine.prepare(events)
    assert outcome.accepted > 0
    assert outcome.changes.partitions
    assert state_of(store) == state_of(MemoryStateStore())
    await engine.commit(outcome)
    assert state_of(store) == await clean_run(events)


async def test_outcome_of_a_batch_of_duplicates_has_nothing_to_commit() -> None:
    events = envelopes(mixed_payloads(30))
    store = FailingStore()
    engine = Engine(store, OPTIONS)
    await engine.process(events)
    outcome = await engine.prepare(events)
    assert (outcome.accepted, outcome.duplicates) == (0, len(events))
    await engine.commit(outcome)
    assert len(store.applied) == 1


async def test_repeating_a_commit_that_succeeded_changes_nothing() -> None:
    events = envelopes(mixed_payloads(90))
    store = MemoryStateStore()
    engine = Engine(store, OPTIONS)
    outcome = await engine.prepare(events)
    await engine.commit(outcome)
    await engine.commit(outcome)
    assert state_of(store) == await clean_run(events)


@pytest.mark.parametrize("completed_before", [False, True])
async def test_retrying_a_failed_commit_equals_clean_run(completed_before: bool) -> None:
    events = envelopes(mixed_payloads(120))
    store = FailingStore()
    engine = Engine(store, OPTIONS)
    if completed_before:
        await engine.process(events[:40])
    outcome = await engine.prepare(events[40:] if completed_before else events)
    store.failures_left = 2
    for _ in range(2):
        with pytest.raises(StoreDown):
            await engine.commit(outcome)
    await engine.commit(outcome)
    assert state_of(store) == await clean_run(events)


async def test_restarted_worker_redoing_a_batch_whose_commit_failed_equals_clean_run() -> None:
    events = envelopes(mixed_payloads(120))
    store = FailingStore()
    await Engine(store, OPTIONS).process(events[:40])
    store.failures_left = 1
    with pytest.raises(StoreDown):
        await Engine(store, OPTIONS).process(events[40:100])
    restarted = Engine(store, OPTIONS)
    await restarted.process(events[40:70])  # a different cut of the same events
    await restarted.process(events[70:])
    assert state_of(store) == await clean_run(events)


async def test_restarted_worker_reprocessing_an_overlap_equals_clean_run() -> None:
    events = envelopes(mixed_payloads(150))
    store = MemoryStateStore()
    await Engine(store, OPTIONS).process(events[:100])
    outcome = await Engine(store, OPTIONS).process(events[49:])
    assert outcome.duplicates >= 51
    assert state_of(store) == await clean_run(events)


async def test_same_worker_reprocessing_an_overlap_equals_clean_run() -> None:
    events = envelopes(mixed_payloads(150))
    store = MemoryStateStore()
    engine = Engine(store, OPTIONS)
    await engine.process(events[:50])
    await engine.process(events[50:100])
    await engine.process(events[49:])
    assert state_of(store) == await clean_run(events)


async def test_streams_taken_over_after_another_worker_failed_to_commit_equals_clean_run() -> None:
    """Worker A applies 1..50 and loses the streams; worker B fails to commit 51..100;
    A gets the streams back and resumes at 51."""
    events = envelopes(mixed_payloads(150))
    store = FailingStore()
    worker_a = Engine(store, OPTIONS)
    await worker_a.process(events[:50])
    worker_b = Engine(store, OPTIONS)
    store.failures_left = 1
    with pytest.raises(StoreDown):
        await worker_b.process(events[50:100])
    await worker_a.process(events[50:])
    assert state_of(store) == await clean_run(events)


MISHAPS = ["none", "again", "restart_again", "fail_retry", "fail_restart"]


@settings(deadline=None, max_examples=40)
@given(data=st.data())
def test_any_batching_with_redeliveries_and_failed_commits_equals_clean_run(
    data: st.DataObject,
) -> None:
    """Cut the input into arbitrary batches. Any batch may be delivered again after it was
    applied (by the same worker or after a restart), or its commit may fail, after which
    the same worker retries the commit or a restarted worker redoes the batch."""
    events = envelopes(mixed_payloads(80))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(events) - 1), max_size=8)))
    bounds = [0, *cuts, len(events)]
    batches = [events[a:b] for a, b in itertools.pairwise(bounds)]
    mishaps = data.draw(
        st.lists(st.sampled_from(MISHAPS), min_size=len(batches), max_size=len(batches))
    )

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        store = FailingStore()
        engine = Engine(store, OPTIONS)
        for batch, mishap in zip(batches, mishaps, strict=True):
            outcome = await engine.prepare(batch)
            if mishap.startswith("fail") and outcome.changes.partitions:
                store.failures_left = 1
                with pytest.raises(StoreDown):
                    await engine.commit(outcome)
            else:
                await engine.commit(outcome)
            if mishap.endswith("restart") or mishap == "restart_again":
                engine = Engine(store, OPTIONS)
            if mishap == "fail_retry":
                await engine.commit(outcome)
            elif mishap != "none":
                await engine.process(batch)
        return state_of(store), await clean_run(events)

    got, expected = asyncio.run(scenario())
    assert got == expected


async def test_changes_are_split_by_the_kafka_partition_of_the_event_key() -> None:
    store = FailingStore()
    events = envelopes(
        [
            *late_order(),
            feedback("fb-1", T0, 9, customer_id="c-9"),
            customer("cu-1", T0, customer_id="c-7", segment="vip"),
        ]
    )
    await Engine(store, OPTIONS).process(events)
    (changes,) = store.applied
    p_order, p_answer, p_customer = (partition_for(k, 4) for k in ("o-1", "c-9", "c-7"))
    assert len({p_order, p_answer, p_customer}) == 3  # the premise of this test
    assert set(changes.partitions) == {p_order, p_answer, p_customer}
    order_part = changes.partitions[p_order]
    assert set(order_part.orders) == {"o-1"}
    assert set(order_part.seen) == {date(2026, 3, 2), date(2026, 3, 5)}
    assert sorted(order_part.seen[date(2026, 3, 2)]) == ["l-1", "l-2"]
    assert changes.partitions[p_customer].customers.keys() == {"c-7"}
    answer_part = changes.partitions[p_answer]
    assert answer_part.seen == {date(2026, 3, 2): ["fb-1"]}
    assert not answer_part.orders
    assert not answer_part.customers
    bucket = int(T0.timestamp()) // OPTIONS.bucket_seconds
    assert answer_part.contributions["all"][bucket]["responses"] == 1
    assert order_part.contributions["all"][bucket]["placed"] == 1
    tokens = [part.token for part in changes.partitions.values()]
    assert len(set(tokens)) == len(tokens)
    assert changes.series_dims["country=DE,carrier=dhl"] == {"country": "DE", "carrier": "dhl"}


async def test_contributions_of_one_batch_sum_up_per_bucket_and_counter() -> None:
    answers = [
        feedback(f"fb-{i}", T0 + timedelta(minutes=i), 10, customer_id="c-3") for i in (1, 2)
    ]
    outcome = await Engine(MemoryStateStore(), OPTIONS).prepare(envelopes(answers))
    (part,) = outcome.changes.partitions.values()
    bucket = int(T0.timestamp()) // OPTIONS.bucket_seconds
    assert part.contributions["all"] == {bucket: {"responses": 2, "promoters": 2}}


async def test_two_writers_taking_turns_on_the_same_orders_equal_clean_run() -> None:
    """An engine keeps the states it wrote parsed, and must not use them once another
    writer has changed them in the store."""
    day = timedelta(days=1)
    events = envelopes(
        [
            logistics("l-1", T0, "order_placed", promised_date="2026-03-03"),
            logistics("l-2", T0 + day, "shipped", carrier="dhl"),
            logistics("l-3", T0 + 3 * day, "delivered"),
            feedback("fb-1", T0 + 4 * day, 3, order_id="o-1"),
        ]
    )
    store = MemoryStateStore()
    worker_a = Engine(store, OPTIONS)
    worker_b = Engine(store, OPTIONS)
    for i, event in enumerate(events):
        await (worker_b if i % 2 else worker_a).process([event])
    assert state_of(store) == await clean_run(events)
    assert totals(store, "country=DE,carrier=dhl")["detractors_late"] == 1


async def test_kept_states_are_not_shared_with_what_a_batch_handed_out() -> None:
    events = envelopes(mixed_payloads(150))
    store = MemoryStateStore()
    engine = Engine(store, OPTIONS)
    first = await engine.process(events[:57])
    for order in first.orders.values():  # a later stage scribbling on what it was given
        order.exceptions.append("scribbled")
        order.carriers.clear()
    second = await engine.process(events[57:])
    assert first.orders.keys() & second.orders.keys()  # the premise of this test
    assert not any("scribbled" in order.exceptions for order in second.orders.values())
    assert state_of(store) == await clean_run(events)


async def test_a_tiny_cache_gives_the_same_results() -> None:
    events = envelopes(mixed_payloads(150))
    store = MemoryStateStore()
    engine = Engine(store, OPTIONS, cache_size=2)
    for start in range(0, 150, 10):
        await engine.process(events[start : start + 10])
    assert state_of(store) == await clean_run(events)
