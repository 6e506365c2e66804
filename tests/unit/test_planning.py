"""The action planner decides delay notices, apologies and VIP tasks once, as the rules say.

Batches are run through the real :class:`Engine` on a :class:`MemoryStateStore`; the
planner runs between ``prepare`` and ``commit`` as the drivers run it, with
:class:`MemoryPlannerState` and the default rules of ``rules/``. Covered: each action
kind with its edge cases (opt-out, no email, quiet hours, once per order across
batches, once per customer per period in event time, template after a delay notice,
the VIP predicate, vouchers), a batch run again after a failed commit deciding the same
actions, and acknowledging tasks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cxstream.cli import main
from cxstream.clock import ManualClock
from cxstream.decoding import Envelope, FileOrigin
from cxstream.engine import BatchOutcome, Engine, EngineOptions
from cxstream.events import LogisticsEvent, event_adapter
from cxstream.memory_store import MemoryStateStore
from cxstream.notify.payloads import DelayNoticeDetail, VipTaskDetail, parse_as, parse_detail
from cxstream.orders import OrderState
from cxstream.planning import (
    ActionPlanner,
    MemoryPlannerState,
    MemoryProfileReader,
    MemoryTaskAcknowledgements,
    acknowledge_task,
    acknowledged_key,
    order_history,
    suggested_apology,
)
from cxstream.records import ActionRecord, AlertRecord, action_id
from cxstream.rules import RuleSet, VoucherPool, load_rules

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
RULES = load_rules(RULES_DIR)
PARTITIONS = 4
OPTIONS = EngineOptions(partitions=PARTITIONS, series=((), ("country",), ("country", "carrier")))
# Monday 2 March 2026, 09:00 in Berlin (CET, UTC+1).
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)
H = timedelta(hours=1)


# -- building batches ------------------------------------------------------------------------

_counter = iter(range(1, 1_000_000))


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}"


def profile(at: datetime, customer: str = "c-1", **fields: Any) -> dict[str, Any]:
    data = {"email": f"{customer}@shop.example", "language": "de", "country": "DE"}
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    return {
        "kind": "customer",
        "event_id": _id("cust"),
        "ts": at.isoformat(),
        "customer_id": customer,
        **data,
    }


def logistics(
    at: datetime, kind: str, order: str = "o-1", customer: str = "c-1", **fields: Any
) -> dict[str, Any]:
    return {
        "kind": "logistics",
        "event_id": _id("log"),
        "ts": at.isoformat(),
        "order_id": order,
        "customer_id": customer,
        "type": kind,
        "country": fields.pop("country", "DE"),
        **fields,
    }


def answer(
    at: datetime, score: int, order: str | None = "o-1", customer: str = "c-1", **fields: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "feedback",
        "event_id": fields.pop("event_id", None) or _id("fb"),
        "ts": at.isoformat(),
        "customer_id": customer,
        "score": score,
        "channel": "app",
        "country": fields.pop("country", "DE"),
        **fields,
    }
    if order is not None:
        data["order_id"] = order
    return data


def placed(
    at: datetime, order: str = "o-1", promised: str = "2026-03-04", **kw: Any
) -> dict[str, Any]:
    return logistics(at, "order_placed", order, promised_date=promised, **kw)


def shipped(
    at: datetime, order: str = "o-1", eta: datetime | None = None, carrier: str = "dhl", **kw: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = {"carrier": carrier, **kw}
    if eta is not None:
        fields["eta"] = eta.isoformat()
    return logistics(at, "shipped", order, **fields)


def envelopes(payloads: Sequence[dict[str, Any]]) -> list[Envelope]:
    out: list[Envelope] = []
    for line, payload in enumerate(payloads, start=1):
        event = event_adapter.validate_json(json.dumps(payload))
        out.append(Envelope(event, FileOrigin("test.jsonl", line), f"cx.{event.kind}/0", line))
    return out


def alert(
    segment: dict[str, str], at: datetime, rule: str = "late-rate", status: str = "firing"
) -> AlertRecord:
    return AlertRecord.model_validate(
        {
            "alert_id": f"{rule}:{'-'.join(segment.values())}",
            "rule": rule,
            "status": status,
            "at": at,
            "kpi": "late_rate",
            "segment": segment,
            "value": 0.3,
            "expected": 0.05,
            "score": 0.9,
            "severity": "critical",
        }
    )


class Harness:
    """An engine, a memory store and a planner, run the way the drivers run them."""

    def __init__(self, rules: RuleSet = RULES) -> None:
        self.store = MemoryStateStore()
        self.engine = Engine(self.store, OPTIONS)
        self.state = MemoryPlannerState(self.store)
        self.planner = ActionPlanner(
            rules, self.state, partitions=PARTITIONS, profiles=MemoryProfileReader(self.store)
        )

    async def prepare(self, payloads: Sequence[dict[str, Any]]) -> BatchOutcome:
        return await self.engine.prepare(envelopes(payloads))

    async def run(
        self,
        payloads: Sequence[dict[str, Any]],
        firing: Sequence[AlertRecord] = (),
        *,
        commit: bool = True,
    ) -> list[ActionRecord]:
        outcome = await self.prepare(payloads)
        actions = await self.planner.plan(outcome, firing)
        if commit:
            await self.engine.commit(outcome)
        return actions


def of_type(actions: Sequence[ActionRecord], kind: str) -> list[ActionRecord]:
    return [a for a in actions if a.type == kind]


@pytest.fixture
def h() -> Harness:
    return Harness()


# -- delay notices ---------------------------------------------------------------------------


(NOTICE_RULE,) = RULES.delay_notice_rules
(APOLOGY_RULE,) = RULES.apology_rules


def template(reasons: Sequence[str], after_notice: bool) -> str:
    """The apology template the default rules choose."""
    return APOLOGY_RULE.templates.choose(reasons, after_notice)


def test_the_default_rules_have_what_these_tests_rely_on() -> None:
    assert NOTICE_RULE.name == "delay-notice"
    assert "late-rate" in NOTICE_RULE.triggers.segment_alerting
    assert APOLOGY_RULE.name == "apology"
    assert APOLOGY_RULE.per_customer_within == timedelta(days=30)
    assert template(["delivery_late"], True) != template(["delivery_late"], False)
    assert {"de", "en"} <= set(NOTICE_RULE.languages) & set(APOLOGY_RULE.languages)
    (vip,) = RULES.vip_task_rules
    assert (vip.name, vip.receiver, vip.sla, vip.renotify_after_sla) == (
        "vip-callback",
        "support-leads",
        timedelta(hours=4),
        True,
    )


@pytest.mark.parametrize("after_notice", [False, True])
@pytest.mark.parametrize(
    "reasons", [["delivery_late"], ["delivery_damaged"], ["app_crash"], ["refund_slow"], []]
)
def test_the_templates_of_the_default_rules_are_ones_the_notifier_knows(
    reasons: list[str], after_notice: bool
) -> None:
    action = ActionRecord(
        action_id="apology:1",
        type="apology_email",
        at=T0,
        rule="apology",
        detail={"template": template(reasons, after_notice), "language": "en"},
    )
    assert parse_detail(action)


async def test_an_eta_past_the_promise_decides_a_delay_notice(h: Harness) -> None:
    await h.run([profile(T0 - DAY, language="en")])
    late_eta = datetime(2026, 3, 6, 12, tzinfo=UTC)
    actions = await h.run([placed(T0), shipped(T0 + 2 * H, eta=late_eta)])
    (notice,) = actions
    assert notice.action_id == action_id("delay-notice", "order:o-1")
    assert notice.type == "delay_notice"
    assert notice.rule == "delay-notice"
    assert notice.at == T0 + 2 * H  # the event that made it eligible
    assert (notice.order_id, notice.customer_id) == ("o-1", "c-1")
    assert notice.detail == {
        "template": "delay_notice",
        "language": "en",
        "promised_date": "2026-03-04",
        "eta": late_eta.isoformat(),
        "carrier": "dhl",
        "reason": "eta_past_promise",
        "country": "DE",
        "after_promise": False,
        # The end of 4 March in Berlin (23:00 UTC) minus the rule's lead time of 12h.
        "send_by": "2026-03-04T11:00:00+00:00",
    }
    assert "c-1@shop.example" not in notice.to_json()
    detail = parse_as(notice, DelayNoticeDetail)
    assert detail.reason == "eta_past_promise"


async def test_an_eta_on_the_promised_day_in_local_time_is_not_late(h: Harness) -> None:
    # 22:30 UTC on the 4th is 23:30 in Berlin, still the promised day.
    eta = datetime(2026, 3, 4, 22, 30, tzinfo=UTC)
    assert await h.run([profile(T0 - DAY), placed(T0), shipped(T0 + H, eta=eta)]) == []


async def test_a_language_not_offered_falls_back_to_the_default(h: Harness) -> None:
    eta = datetime(2026, 3, 6, tzinfo=UTC)
    actions = await h.run([profile(T0 - DAY, language="sv"), placed(T0), shipped(T0, eta=eta)])
    assert actions[0].detail["language"] == NOTICE_RULE.default_language


async def test_a_delivery_exception_decides_a_notice_with_its_reason(h: Harness) -> None:
    await h.run([profile(T0 - DAY), placed(T0), shipped(T0 + H)])
    eta = datetime(2026, 3, 4, 15, tzinfo=UTC)  # still on the promised day
    exception = logistics(T0 + 3 * H, "delivery_exception", reason="weather", eta=eta.isoformat())
    (notice,) = await h.run([exception])
    assert notice.at == T0 + 3 * H
    assert notice.detail["reason"] == "weather"
    assert notice.detail["eta"] == eta.isoformat()
    assert notice.detail["language"] == "de"


async def test_an_exception_without_an_eta_is_dated_by_its_own_event(h: Harness) -> None:
    await h.run([profile(T0 - DAY), placed(T0), shipped(T0 + H)])
    await h.run([profile(T0 - DAY, customer="c-2"), placed(T0, order="o-2", customer="c-2")])
    actions = await h.run(
        [
            logistics(T0 + 3 * H, "delivery_exception", reason="address"),
            answer(T0 + 4 * H, 9, order="o-2", customer="c-2"),
            logistics(T0 + 5 * H, "order_placed", order="o-3", customer="c-3"),
        ]
    )
    (notice,) = of_type(actions, "delay_notice")
    assert notice.detail["reason"] == "address"
    assert notice.detail["eta"] is None
    assert notice.at == T0 + 3 * H  # not the later times of other events of the batch


async def test_an_order_delivered_later_in_the_same_batch_still_gets_its_notice(
    h: Harness,
) -> None:
    """The eta moved past the promise at T0+1h; the parcel came anyway a day late. Read one
    by one, the first event decides a notice; in one batch it must too."""
    await h.run([profile(T0 - DAY)])
    late_eta = datetime(2026, 3, 5, 12, tzinfo=UTC)
    actions = await h.run(
        [
            placed(T0),
            shipped(T0 + H, eta=late_eta),
            logistics(late_eta, "delivered"),
        ]
    )
    (notice,) = of_type(actions, "delay_notice")
    assert notice.at == T0 + H
    assert notice.detail["reason"] == "eta_past_promise"
    assert notice.detail["eta"] == late_eta.isoformat()
    assert notice.detail["after_promise"] is False


async def test_the_first_state_that_qualifies_decides_the_notice(h: Harness) -> None:
    """An exception at T0+2h, then a new eta past the promise at T0+3h: the notice is the
    exception's, as it would be with the events in separate batches."""
    await h.run([profile(T0 - DAY)])
    actions = await h.run(
        [
            placed(T0),
            shipped(T0 + H),
            logistics(T0 + 2 * H, "delivery_exception", reason="damaged"),
            logistics(T0 + 3 * H, "in_transit", eta=datetime(2026, 3, 6, tzinfo=UTC).isoformat()),
        ]
    )
    (notice,) = of_type(actions, "delay_notice")
    assert (notice.detail["reason"], notice.at) == ("damaged", T0 + 2 * H)
    assert notice.detail["eta"] is None


async def test_the_actions_do_not_depend_on_how_events_are_cut_into_batches() -> None:
    late_eta = datetime(2026, 3, 5, 12, tzinfo=UTC)
    on_time_eta = datetime(2026, 3, 4, 9, tzinfo=UTC)
    stream = [
        profile(T0 - DAY),
        profile(T0 - DAY, customer="c-2"),
        profile(T0 - DAY, customer="c-3"),
        placed(T0),
        placed(T0, order="o-2", customer="c-2"),
        placed(T0, order="o-3", customer="c-3"),
        shipped(T0 + H, eta=late_eta),
        shipped(T0 + H, order="o-2", customer="c-2", eta=on_time_eta),
        shipped(T0 + H, order="o-3", customer="c-3", eta=on_time_eta),
        logistics(T0 + 2 * H, "delivery_exception", order="o-3", customer="c-3", reason="address"),
        logistics(late_eta, "delivered"),
        logistics(on_time_eta, "delivered", order="o-2", customer="c-2"),
        logistics(late_eta + H, "delivered", order="o-3", customer="c-3"),
        answer(late_eta + 2 * H, 3, reasons=["delivery_late"]),
        answer(late_eta + 2 * H, 2, order="o-2", customer="c-2", reasons=["product_quality"]),
        answer(late_eta + 3 * H, 4, order="o-3", customer="c-3", reasons=["delivery_late"]),
    ]
    runs: list[list[ActionRecord]] = []
    for size in (1, 2, 5, len(stream)):
        harness = Harness()
        actions: list[ActionRecord] = []
        for start in range(0, len(stream), size):
            actions += await harness.run(stream[start : start + size])
        runs.append(sorted(actions, key=lambda a: a.action_id))
    assert [a.order_id for a in of_type(runs[0], "delay_notice")] == ["o-1", "o-3"]
    assert all(run == runs[0] for run in runs[1:])


async def test_a_notice_is_decided_once_per_order_across_batches(h: Harness) -> None:
    eta = datetime(2026, 3, 6, tzinfo=UTC)
    first = await h.run([profile(T0 - DAY), placed(T0), shipped(T0 + H, eta=eta)])
    assert len(first) == 1
    later_eta = datetime(2026, 3, 8, tzinfo=UTC)
    assert await h.run([logistics(T0 + 5 * H, "in_transit", eta=later_eta.isoformat())]) == []
    assert await h.run([logistics(T0 + 6 * H, "delivery_exception", reason="strike")]) == []


async def test_a_rerun_after_a_failed_commit_decides_the_same_notice(h: Harness) -> None:
    await h.run([profile(T0 - DAY)])
    batch = [placed(T0), shipped(T0 + H, eta=datetime(2026, 3, 6, tzinfo=UTC))]
    first = await h.run(batch, commit=False)
    assert len(first) == 1
    # The commit failed; the batch is run again, also cut differently.
    assert await h.run(batch, commit=False) == first
    assert await h.run(batch) == first
    # Committed now: the same events again are duplicates, new ones decide nothing.
    assert await h.run(batch) == []
    assert await h.run([logistics(T0 + 2 * H, "in_transit")]) == []


async def test_quiet_hours_put_off_the_notice_but_never_drop_it(h: Harness) -> None:
    await h.run([profile(T0 - DAY)])
    # 22:30 in Berlin: quiet (21:00 to 08:00) until 08:00 the next morning (07:00 UTC).
    at = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)
    (notice,) = await h.run([placed(T0), shipped(at, eta=datetime(2026, 3, 6, tzinfo=UTC))])
    assert notice.at == at
    assert notice.detail["not_before"] == "2026-03-03T07:00:00+00:00"


async def test_quiet_hours_follow_the_country(h: Harness) -> None:
    await h.run([profile(T0 - DAY, customer="c-fr", language="fr", country="FR")])
    # 08:15 in Paris is still quiet there (21:30 to 08:30).
    at = datetime(2026, 3, 2, 7, 15, tzinfo=UTC)
    (notice,) = await h.run(
        [
            placed(T0 - DAY, order="o-fr", customer="c-fr", country="FR"),
            shipped(
                at,
                order="o-fr",
                customer="c-fr",
                country="FR",
                eta=datetime(2026, 3, 6, tzinfo=UTC),
            ),
        ]
    )
    assert notice.detail["not_before"] == "2026-03-02T07:30:00+00:00"


async def test_opted_out_customers_and_customers_without_email_get_no_notice(h: Harness) -> None:
    eta = datetime(2026, 3, 6, tzinfo=UTC)
    await h.run([profile(T0 - DAY, contact_opt_out=True)])
    assert await h.run([placed(T0), shipped(T0 + H, eta=eta)]) == []
    assert h.state.notice_records == {}
    await h.run([profile(T0 - DAY, customer="c-2", email=None)])
    assert await h.run([placed(T0, order="o-2", customer="c-2")]) == []
    assert await h.run([shipped(T0 + H, order="o-2", customer="c-2", eta=eta)]) == []
    # Nothing was recorded: once the customer can be written to, a later event decides.
    await h.run([profile(T0 + 2 * H, customer="c-2", email="c-2@shop.example")])
    (notice,) = await h.run(
        [logistics(T0 + 3 * H, "in_transit", order="o-2", customer="c-2", eta=eta.isoformat())]
    )
    assert notice.order_id == "o-2"


async def test_a_customer_whose_profile_is_not_stored_yet_still_gets_the_notice(
    h: Harness,
) -> None:
    # The CRM stream is read independently: the profile may arrive after the late eta.
    eta = datetime(2026, 3, 6, tzinfo=UTC)
    (notice,) = await h.run([placed(T0, customer="c-9"), shipped(T0 + H, customer="c-9", eta=eta)])
    assert notice.customer_id == "c-9"
    assert notice.detail["language"] is None  # the notifier uses the customer's at send time
    assert parse_as(notice, DelayNoticeDetail).language is None


async def test_a_profile_arriving_in_the_same_batch_counts(h: Harness) -> None:
    eta = datetime(2026, 3, 6, tzinfo=UTC)
    actions = await h.run([placed(T0), profile(T0 + H), shipped(T0 + 2 * H, eta=eta)])
    assert len(actions) == 1


async def test_delivered_orders_and_orders_without_a_promise_get_no_notice(h: Harness) -> None:
    eta = datetime(2026, 3, 6, tzinfo=UTC)
    await h.run([profile(T0 - DAY)])
    # Delivered before a late eta was reported (a scan read out of order): nothing to tell.
    assert (
        await h.run([placed(T0), logistics(T0 + H, "delivered"), shipped(T0 + 2 * H, eta=eta)])
        == []
    )
    no_promise = logistics(T0, "order_placed", order="o-2")
    assert await h.run([no_promise, shipped(T0 + H, order="o-2", eta=eta)]) == []


async def test_news_after_the_promised_date_is_still_sent_and_flagged(h: Harness) -> None:
    await h.run([profile(T0 - 3 * DAY), placed(T0 - 3 * DAY, promised="2026-03-01")])
    exception = logistics(
        T0, "delivery_exception", reason="customs", eta=(T0 + 2 * DAY).isoformat()
    )
    (notice,) = await h.run([exception])
    assert notice.at == T0
    assert notice.detail["after_promise"] is True
    assert notice.detail["reason"] == "customs"


async def test_an_alert_on_the_orders_country_and_carrier_decides_a_notice(h: Harness) -> None:
    await h.run([profile(T0 - DAY)])
    on_time = datetime(2026, 3, 3, 12, tzinfo=UTC)
    batch = [placed(T0), shipped(T0 + H, eta=on_time, carrier="dpd")]
    firing = alert({"country": "DE", "carrier": "dpd"}, T0 + 3 * H)
    ignored = [
        alert({"country": "DE"}, T0),  # not a country x carrier segment
        alert({"country": "DE", "carrier": "dpd", "region": "BY"}, T0),  # not exactly
        alert({"country": "DE", "carrier": "dhl"}, T0),  # another carrier
        alert({"country": "DE", "carrier": "dpd"}, T0, rule="exception-rate"),  # not listed
        alert({"country": "DE", "carrier": "dpd"}, T0, status="resolved"),
    ]
    assert await h.run(batch, ignored, commit=False) == []
    (notice,) = await h.run(batch, [*ignored, firing])
    assert notice.detail["reason"] == "segment_alerting"
    assert notice.detail["alert_id"] == firing.alert_id
    assert notice.at == T0 + 3 * H  # the alert came after the order's events


# -- apologies -------------------------------------------------------------------------------


async def test_a_detractor_gets_an_apology_chosen_by_reasons(h: Harness) -> None:
    await h.run([profile(T0 - DAY, language="en"), placed(T0 - DAY)])
    fb = answer(T0 + 2 * H, 3, reasons=["price", "delivery_damaged"])
    (apology,) = await h.run([fb])
    assert apology.action_id == action_id("apology", "order:o-1")
    assert apology.type == "apology_email"
    assert apology.at == T0 + 2 * H
    assert apology.detail == {
        "template": template(["price", "delivery_damaged"], False),
        "language": "en",
        "reasons": ["price", "delivery_damaged"],
        "score": 3,
        "delay_notice_sent": False,
        "country": "DE",
        "channel": "app",
    }


@pytest.mark.parametrize(
    "reasons",
    [["delivery_late"], ["app_crash", "price"], ["refund_slow"], ["other"], []],
)
async def test_apology_templates_follow_the_reasons(h: Harness, reasons: list[str]) -> None:
    await h.run([profile(T0 - DAY)])
    (apology,) = await h.run([answer(T0, 6, reasons=reasons)])
    assert apology.detail["template"] == template(reasons, False)
    assert apology.detail["reasons"] == reasons


async def test_after_a_delay_notice_the_apology_says_so(h: Harness) -> None:
    eta = datetime(2026, 3, 6, tzinfo=UTC)
    await h.run([profile(T0 - DAY), placed(T0), shipped(T0 + H, eta=eta)])
    await h.run([profile(T0 - DAY, customer="c-2"), placed(T0, order="o-2", customer="c-2")])
    late = await h.run([answer(T0 + 5 * DAY, 2, reasons=["delivery_late"])])
    other = await h.run([answer(T0 + 5 * DAY, 2, order="o-2", customer="c-2")])
    assert late[0].detail["template"] == template(["delivery_late"], True)
    assert late[0].detail["delay_notice_sent"] is True
    assert other[0].detail["template"] == template([], False)
    assert other[0].detail["delay_notice_sent"] is False


async def test_a_notice_decided_in_the_same_batch_counts_only_if_it_came_first(
    h: Harness,
) -> None:
    await h.run([profile(T0 - DAY), placed(T0 - DAY)])
    await h.run([profile(T0 - DAY, customer="c-2"), placed(T0 - DAY, order="o-2", customer="c-2")])
    eta = datetime(2026, 3, 6, tzinfo=UTC)
    actions = await h.run(
        [
            shipped(T0, eta=eta),
            answer(T0 + H, 1, reasons=["delivery_late"]),
            answer(T0 - H, 1, order="o-2", customer="c-2", reasons=["delivery_late"]),
            shipped(T0, order="o-2", customer="c-2", eta=eta),
        ]
    )
    by_order = {a.order_id: a for a in of_type(actions, "apology_email")}
    assert by_order["o-1"].detail["template"] == template(["delivery_late"], True)
    assert by_order["o-2"].detail["template"] == template(["delivery_late"], False)
    assert [a.at for a in actions] == sorted(a.at for a in actions)


async def test_at_most_one_apology_per_customer_within_the_period_in_event_time(
    h: Harness,
) -> None:
    await h.run([profile(T0 - DAY)])
    first = await h.run([answer(T0, 2, order="o-1")])
    assert len(first) == 1
    assert await h.run([answer(T0 + 29 * DAY, 2, order="o-2")]) == []
    # Event time decides, not the order of arrival: an older answer within 30 days of the
    # apology is refused too, one more than 30 days older is not.
    assert await h.run([answer(T0 - 20 * DAY, 2, order="o-3")]) == []
    (older,) = await h.run([answer(T0 - 31 * DAY, 2, order="o-4")])
    assert older.order_id == "o-4"
    (later,) = await h.run([answer(T0 + 30 * DAY, 2, order="o-5")])
    assert later.order_id == "o-5"
    # Within one batch the same holds.
    assert (
        len(
            await h.run(
                [answer(T0 + 70 * DAY, 1, order="o-6"), answer(T0 + 71 * DAY, 1, order="o-7")]
            )
        )
        == 1
    )


async def test_an_order_gets_one_apology_even_after_the_period(h: Harness) -> None:
    await h.run([profile(T0 - DAY)])
    assert len(await h.run([answer(T0, 2)])) == 1
    assert await h.run([answer(T0 + 60 * DAY, 1)]) == []


async def test_no_apology_for_passives_opted_out_or_unreachable_customers(h: Harness) -> None:
    await h.run([profile(T0 - DAY), profile(T0 - DAY, customer="c-2", contact_opt_out=True)])
    await h.run([profile(T0 - DAY, customer="c-3", email=None)])
    assert await h.run([answer(T0, 7)]) == []
    assert await h.run([answer(T0, 0, order="o-2", customer="c-2")]) == []
    assert await h.run([answer(T0, 0, order="o-3", customer="c-3")]) == []
    assert await h.run([answer(T0, 0, order="o-4", customer="c-unknown")]) == []


async def test_an_answer_without_an_order_is_its_own_subject(h: Harness) -> None:
    await h.run([profile(T0 - DAY)])
    (apology,) = await h.run([answer(T0, 4, order=None, event_id="fb-x")])
    assert apology.action_id == action_id("apology", "feedback:fb-x")
    assert apology.order_id is None


async def test_quiet_hours_put_off_an_apology(h: Harness) -> None:
    await h.run([profile(T0 - DAY)])
    at = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # 06:00 in Berlin
    (apology,) = await h.run([answer(at, 4)])
    assert apology.detail["not_before"] == "2026-03-02T07:00:00+00:00"


def _with_vouchers(codes: Sequence[str]) -> RuleSet:
    rules = tuple(
        r.model_copy(update={"voucher_pool": "sorry"}) if r.name == "apology" else r
        for r in RULES.rules
    )
    pool = VoucherPool(name="sorry", codes=tuple(codes))
    return RULES.model_copy(update={"rules": rules, "voucher_pools": (pool,)})


async def test_vouchers_are_handed_out_once_each_and_kept_on_reruns() -> None:
    h = Harness(_with_vouchers(["A-1", "A-2"]))
    await h.run([profile(T0 - DAY, customer=c) for c in ("c-1", "c-2", "c-3")])
    batch = [answer(T0, 1, order=f"o-{i}", customer=f"c-{i}") for i in (1, 2, 3)]
    first = await h.run(batch, commit=False)
    assert [a.detail.get("voucher") for a in first] == ["A-1", "A-2", None]  # exhausted
    assert await h.run(batch) == first
    # Codes added to the pool later are handed out after the first ones.
    h.planner.rules = _with_vouchers(["A-1", "A-2", "A-3"])
    await h.run([profile(T0 - DAY, customer="c-4")])
    (apology,) = await h.run([answer(T0, 1, order="o-4", customer="c-4")])
    assert apology.detail["voucher"] == "A-3"


# -- VIP tasks -------------------------------------------------------------------------------


async def test_an_unhappy_vip_gets_a_task_and_a_reminder(h: Harness) -> None:
    eta = datetime(2026, 3, 5, 10, tzinfo=UTC)
    await h.run(
        [
            profile(T0 - 5 * DAY, segment="vip"),
            placed(T0 - 3 * DAY, promised="2026-03-01"),
            shipped(T0 - 2 * DAY, eta=eta),
            logistics(T0 + DAY, "delivered"),
        ]
    )
    at = T0 + 2 * DAY
    actions = await h.run([answer(at, 2, reasons=["delivery_late", "delivery_damaged"])])
    # The shipped rule: SLA 4h, then a reminder every 2h, three at most.
    assert [a.type for a in actions] == ["apology_email"] + ["vip_apology_task"] * 4
    task, reminder, *later = of_type(actions, "vip_apology_task")
    assert task.action_id == action_id("vip-callback", "order:o-1")
    assert reminder.action_id == action_id("vip-callback", "order:o-1", "renotify-1")
    assert [r.action_id for r in later] == [
        action_id("vip-callback", "order:o-1", f"renotify-{k}") for k in (2, 3)
    ]
    assert [r.detail["not_before"] for r in later] == [
        (at + 6 * H).isoformat(),
        (at + 8 * H).isoformat(),
    ]
    assert all(r.detail["task_id"] == task.action_id for r in later)
    assert task.at == reminder.at == at
    detail = task.detail
    assert detail["receiver"] == "support-leads"
    assert detail["channel"] == "#support-leads"
    assert detail["score"] == 2
    assert detail["reasons"] == ["delivery_late", "delivery_damaged"]
    assert detail["segment"] == "vip"
    assert detail["language"] == "de"
    assert detail["sla_due"] == (at + 4 * H).isoformat()
    assert detail["renotify"] is False
    assert detail["task_id"] == task.action_id
    assert "not_before" not in detail
    assert [row[1] for row in detail["order_history"]] == [
        "order_placed",
        "promised_date",
        "shipped",
        "eta",
        "delivered",
    ]
    assert detail["order_history"][-1][2] == "2 day(s) late"
    assert "2 Tage später als versprochen" in detail["suggested_apology"]
    assert "beschädigt" in detail["suggested_apology"]
    assert reminder.detail == {
        **detail,
        "renotify": True,
        "not_before": (at + 4 * H).isoformat(),
    }
    parsed = parse_as(task, VipTaskDetail)
    assert parsed.sla_due == at + 4 * H
    assert "c-1@shop.example" not in task.to_json()


async def test_the_vip_predicate(h: Harness) -> None:
    await h.run(
        [
            profile(T0 - DAY, customer="c-reg", segment="regular"),
            profile(T0 - DAY, customer="c-vip", segment="vip"),
            profile(T0 - DAY, customer="c-out", segment="vip", contact_opt_out=True),
        ]
    )
    tasks = of_type(
        await h.run(
            [
                answer(T0, 3, order="o-1", customer="c-reg"),
                answer(T0, 8, order="o-2", customer="c-vip"),  # not a detractor
                answer(T0, 3, order="o-3", customer="c-out"),  # opted out
                answer(T0, 3, order="o-4", customer="c-new", segment="vip"),  # no profile
            ]
        ),
        "vip_apology_task",
    )
    assert {t.customer_id for t in tasks} == {"c-new"}
    assert tasks[0].detail["language"] == "en"


async def test_a_large_order_qualifies_for_a_task_when_its_value_is_known() -> None:
    vip = next(r for r in RULES.vip_task_rules if r.name == "vip-callback")
    rules = RULES.model_copy(
        update={
            "rules": tuple(
                r.model_copy(update={"min_order_value": 250.0}) if r is vip else r
                for r in RULES.rules
            )
        }
    )
    h = Harness(rules)
    await h.run(
        [
            profile(T0 - DAY, customer="c-big", segment="regular"),
            profile(T0 - DAY, customer="c-small", segment="regular"),
            profile(T0 - DAY, customer="c-unknown", segment="regular"),
            placed(T0 - 3 * DAY, order="o-big", customer="c-big", order_value=310.5),
            placed(T0 - 3 * DAY, order="o-small", customer="c-small", order_value=40.0),
            placed(T0 - 3 * DAY, order="o-unknown", customer="c-unknown"),
        ]
    )
    tasks = of_type(
        await h.run(
            [
                answer(T0, 2, order="o-big", customer="c-big"),
                answer(T0, 2, order="o-small", customer="c-small"),
                answer(T0, 2, order="o-unknown", customer="c-unknown"),
            ]
        ),
        "vip_apology_task",
    )
    assert {t.order_id for t in tasks} == {"o-big"}


def test_the_order_value_survives_the_state_round_trips() -> None:
    event = event_adapter.validate_json(json.dumps(placed(T0, order_value=99.9)))
    assert isinstance(event, LogisticsEvent)
    state = OrderState("o-1")
    state.apply(event)
    assert state.value == 99.9
    assert OrderState.from_json("o-1", state.to_json()).value == 99.9
    assert OrderState.from_tuple(state.as_tuple()) == state
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        event_adapter.validate_json(json.dumps(placed(T0, order_value=-1)))


async def test_the_segment_is_the_one_the_customer_had_when_answering(h: Harness) -> None:
    await h.run([profile(T0 - DAY, segment="regular"), profile(T0 + DAY, segment="vip")])
    assert of_type(await h.run([answer(T0, 1)]), "vip_apology_task") == []
    tasks = of_type(await h.run([answer(T0 + 2 * DAY, 1, order="o-2")]), "vip_apology_task")
    assert len(tasks) == 4  # the task and its three reminders


async def test_english_suggestions_name_the_delay_and_the_exception() -> None:
    text = suggested_apology(
        "en", ["delivery_late"], late_days=1, exceptions=["weather"], delivered=False
    )
    assert text.startswith("We are very sorry that your order is already 1 day later than promised")
    assert "held up (weather)" in text
    assert "did not arrive on time" not in text
    assert "not what it should have been" in suggested_apology("pl", [], late_days=0, exceptions=[])


async def test_order_history_of_an_empty_order_is_empty() -> None:
    assert order_history(OrderState("o-1")) == []


# -- re-runs ---------------------------------------------------------------------------------


async def test_a_mixed_batch_run_again_decides_the_same_actions(h: Harness) -> None:
    await h.run(
        [
            profile(T0 - DAY, segment="vip"),
            profile(T0 - DAY, customer="c-2"),
            placed(T0 - DAY, order="o-2", customer="c-2"),
        ]
    )
    batch = [
        placed(T0),
        shipped(T0 + H, eta=datetime(2026, 3, 6, tzinfo=UTC)),
        answer(T0 + 2 * H, 1, reasons=["delivery_late"]),
        answer(T0 + 3 * H, 5, order="o-2", customer="c-2"),
        answer(T0 + 4 * H, 5, order="o-3", customer="c-2"),
        logistics(T0 + 5 * H, "delivery_exception", order="o-2", customer="c-2", reason="address"),
    ]
    first = await h.run(batch, commit=False)
    assert sorted(a.type for a in first) == [
        "apology_email",
        "apology_email",
        "delay_notice",
        "delay_notice",
        *["vip_apology_task"] * 4,
    ]
    again = await h.run(batch, commit=False)
    assert again == first
    assert await h.run(batch) == first
    assert await h.run(batch) == []  # committed: the events are duplicates now


# -- acknowledgements ------------------------------------------------------------------------


async def test_acknowledging_a_task_keeps_the_first_acknowledgement() -> None:
    acks = MemoryTaskAcknowledgements()
    made, new = await acknowledge_task(acks, "vip-callback:1", by="ana", at=T0)
    assert new
    assert (made.by, made.at) == ("ana", T0)
    again, new = await acknowledge_task(acks, "vip-callback:1", by="ben", at=T0 + H)
    assert not new
    assert again.by == "ana"
    assert await acks.is_acknowledged("vip-callback:1")
    assert not await acks.is_acknowledged("vip-callback:2")
    assert acknowledged_key("vip-callback:1", "cx") == "cx:{act:vip-callback:1}:ack"
    with pytest.raises(ValueError, match="timezone-aware"):
        await acknowledge_task(acks, "x", by="ana", at=datetime(2026, 3, 2))


def test_the_cli_acknowledges_a_task() -> None:
    acks = MemoryTaskAcknowledgements()
    clock = ManualClock(wall=T0)
    runner = CliRunner()
    obj = {"clock": clock, "task_acks": acks}
    result = runner.invoke(main, ["tasks", "ack", "vip-callback:1", "--by", "ana"], obj=obj)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"acknowledged vip-callback:1 by ana at {T0.isoformat()}"
    result = runner.invoke(main, ["tasks", "ack", "vip-callback:1", "--by", "ben"], obj=obj)
    assert result.exit_code == 0
    assert "already acknowledged by ana" in result.output
    result = runner.invoke(main, ["tasks", "ack", " "], obj=obj)
    assert result.exit_code == 2
