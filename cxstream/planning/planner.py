"""The action planner: a processed batch's facts in, the customer actions the rules ask for out.

The drivers call :meth:`ActionPlanner.plan` after :meth:`Engine.prepare
<cxstream.engine.Engine.prepare>` and before :meth:`Engine.commit
<cxstream.engine.Engine.commit>`, publish the actions to the outbox, and only then
commit. Every action has a deterministic id (:func:`~cxstream.records.action_id`), and
the planner's records (:mod:`cxstream.planning.state`) make a batch that is run again
after a crash decide the same actions with the same ids, while later batches do not
decide them again.

**Delay notices** (``delay_notice``, once per rule and order: ``order:<order_id>``). Each
order touched by the batch is judged in each state the batch's events took it through,
in their order, and the first state that qualifies decides (so a notice does not depend
on how the events were cut into batches: an order whose eta moved past the promise and
that was delivered an hour later gets its notice whether both events came in one batch
or in two). A state qualifies when the order is not delivered, has a promised date, and
its eta (in the country's time zone) is after the promised date
(``eta_past_promise``), the carrier reported an exception (``delivery_exception``), or
one of the rule's ``segment_alerting`` rules has a firing alert whose segment is
exactly the order's ``{country, carrier}``. A customer whose stored profile has no
email address or opted out gets nothing (nothing is recorded, so a later batch of the
order decides once the profile allows it). A customer whose profile is not stored yet
(the CRM stream is read independently of the logistics stream) gets the notice: the
notifier looks the contact up when it sends, honours an opt-out then, and writes in
the customer's language (the notice carries no language). The notice's ``at``
is the event time at which the order became eligible: for the eta, the later of the
times the current eta and the current promise were reported; for an exception, the
time of the event that brought the order to that state; for an alert,
the later of the latest time the order state records and the alert's time. Language
and template come from the rule. A notice decided after the promised date has passed in
the country's time zone (the information arrived too late) is still decided, with
``after_promise: true``: the customer still learns the new eta or the reason. ``send_by``
is the end of the promised day minus the rule's ``lead_time``.

**Apologies** (``apology_email``, ``order:<order_id>`` or ``feedback:<event_id>``): an
answer with a score in the rule's range, from a customer with an email address who did
not opt out; at most one per customer within ``per_customer_within`` (measured between
the answers' event times). The template is :meth:`ApologyTemplates.choose
<cxstream.rules.ApologyTemplates.choose>` of the reasons and whether a delay notice of
the order was decided at or before the answer's time. With a ``voucher_pool`` the
apology takes one code of the pool (:meth:`PlannerState.assign_vouchers
<cxstream.planning.state.PlannerState.assign_vouchers>`).

**VIP apology tasks** (``vip_apology_task``, ``order:<order_id>`` or
``feedback:<event_id>``): an answer whose score and segment (the profile's segment as
of the answer, else the segment the engine put the answer in) satisfy
:meth:`VipTaskRule.applies <cxstream.rules.VipTaskRule.applies>`, from a customer who
did not opt out. With ``renotify_after_sla`` a reminder is decided with it (same rule,
``renotify-1``, ``renotify: true``, ``not_before`` = the SLA), which the dispatcher
holds until then and skips if the task was acknowledged
(:mod:`cxstream.planning.tasks`); with ``renotify_every`` too, up to ``max_reminders``
of them (``renotify-k``, ``not_before`` = the SLA plus ``k - 1`` periods), each skipped
once the task is acknowledged.

Delay notices and apologies decided in the country's quiet hours carry ``not_before``
(UTC), the end of the quiet hours; they are never dropped. No action holds an email
address: the notifier looks it up when sending.

Details::

    delay_notice:      {"template", "language", "promised_date", "eta", "carrier", "reason",
                        "country", "after_promise", "send_by", "not_before"?, "alert_id"?}
    apology_email:     {"template", "language", "reasons", "score", "delay_notice_sent",
                        "country", "channel", "voucher"?, "not_before"?}
    vip_apology_task:  {"receiver", "channel"?, "score", "reasons", "segment", "language",
                        "country", "order_history", "suggested_apology", "sla_due",
                        "renotify", "task_id", "ticket_webhook"?, "not_before"? (reminder)}

``reason`` is the latest exception reason, ``eta_past_promise`` or ``segment_alerting``;
``channel`` of an apology is the channel the answer came from, of a task the Slack
channel of the rule's receiver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cxstream.engine import BatchOutcome, EnrichedFeedback
from cxstream.orders import OrderState
from cxstream.partitioning import partition_for
from cxstream.planning.profiles import ProfileReader
from cxstream.planning.state import FeedbackClaim, NoticeClaim, PlannerState
from cxstream.planning.texts import last_change, order_history, suggested_apology
from cxstream.profiles import CustomerProfile
from cxstream.records import ActionRecord, AlertRecord, action_id
from cxstream.rules.action_rules import ApologyRule, DelayNoticeRule, VipTaskRule
from cxstream.rules.ruleset import RuleSet

__all__ = ["RENOTIFY_WINDOW", "ActionPlanner", "NoticeTrigger", "subject_of"]

#: The ``window`` of the reminder's action id.
RENOTIFY_WINDOW = "renotify-1"
_SEGMENT_DIMS = frozenset(("country", "carrier"))


def subject_of(feedback: EnrichedFeedback) -> str:
    """What a feedback decision is about: its order, else the answer itself."""
    event = feedback.event
    return f"order:{event.order_id}" if event.order_id else f"feedback:{event.event_id}"


@dataclass(frozen=True, slots=True)
class NoticeTrigger:
    """Why and since when an order is eligible for a delay notice."""

    reason: str
    at: datetime
    alert: AlertRecord | None = None


def _end_of_day(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _contactable(profile: CustomerProfile | None) -> bool:
    return profile is not None and not profile.contact_opt_out and bool(profile.email)


class ActionPlanner:
    """Decides the customer actions of each batch (see the module docs)."""

    def __init__(
        self,
        rules: RuleSet,
        state: PlannerState,
        *,
        partitions: int,
        profiles: ProfileReader | None = None,
    ) -> None:
        self.rules = rules
        self.state = state
        self.partitions = partitions
        self.profiles = profiles

    def _partition(self, key: str) -> int:
        return partition_for(key, self.partitions)

    # -- the whole batch -----------------------------------------------------------------------
    async def plan(
        self, outcome: BatchOutcome, firing: Sequence[AlertRecord]
    ) -> list[ActionRecord]:
        """The actions ``outcome`` calls for, given the alerts ``firing`` (records with
        another status are ignored), in event-time order."""
        rules = self.rules
        delay_rules = rules.delay_notice_rules
        candidates: list[tuple[DelayNoticeRule, OrderState, NoticeTrigger]] = []
        # Each order's states in the batch, rebuilt once for all the rules.
        steps = (
            {order_id: list(outcome.order_steps(order_id)) for order_id in outcome.orders}
            if delay_rules
            else {}
        )
        for rule in delay_rules:
            alerting = self._alerting_segments(rule, firing)
            for order_steps in steps.values():
                # The first state of the batch that calls for a notice decides it: the
                # same one a driver that read the order's events one by one would see.
                for reached, order in order_steps:
                    trigger = self.notice_trigger(rule, order, alerting, reached)
                    if trigger is not None:
                        if order.customer_id:
                            candidates.append((rule, order, trigger))
                        break

        wanted = [
            (rule.name, fb.event.order_id, self._partition(fb.event.order_id))
            for fb in outcome.feedback
            if fb.event.order_id
            for rule in delay_rules
        ]
        customers = {order.customer_id for _, order, _ in candidates if order.customer_id}
        profiles, earlier = await asyncio.gather(
            self._profiles(outcome, customers), self.state.notices(wanted)
        )

        claims: list[NoticeClaim] = []
        for rule, order, trigger in candidates:
            profile = profiles.get(order.customer_id or "")
            if profile is not None and not _contactable(profile):
                continue
            action = self._notice_action(rule, order, trigger, profile)
            claims.append(
                NoticeClaim(rule.name, order.order_id, self._partition(order.order_id), action)
            )
        notices: dict[tuple[str, str], ActionRecord] = dict(earlier)
        actions: list[ActionRecord] = []
        for claim, decided in zip(claims, await self.state.claim_notices(claims), strict=True):
            if decided is not None:
                notices[(claim.rule, claim.order_id)] = decided
                actions.append(decided)

        actions += await self._plan_feedback(outcome.feedback, notices)
        actions.sort(key=lambda a: a.at)
        return actions

    async def _profiles(
        self, outcome: BatchOutcome, customers: set[str]
    ) -> dict[str, CustomerProfile]:
        """Current profiles of ``customers``: as the batch left them, else as stored."""
        found: dict[str, CustomerProfile] = {}
        if not customers:
            return found
        for part in outcome.changes.partitions.values():
            for cid, raw in part.customers.items():
                if cid in customers:
                    found[cid] = CustomerProfile.from_json(cid, raw)
        for fb in outcome.feedback:
            cid = fb.event.customer_id
            if cid in customers and cid not in found and fb.profile is not None:
                found[cid] = fb.profile
        missing = customers.difference(found)
        if missing and self.profiles is not None:
            found.update(await self.profiles.profiles(sorted(missing)))
        return found

    # -- delay notices -------------------------------------------------------------------------
    def _alerting_segments(
        self, rule: DelayNoticeRule, firing: Sequence[AlertRecord]
    ) -> dict[tuple[str, str], AlertRecord]:
        names = set(rule.triggers.segment_alerting)
        found: dict[tuple[str, str], AlertRecord] = {}
        if not names:
            return found
        for alert in sorted(firing, key=lambda a: (a.at, a.alert_id)):
            if alert.status != "firing" or alert.rule not in names:
                continue
            if set(alert.segment) != _SEGMENT_DIMS:
                continue
            found.setdefault((alert.segment["country"], alert.segment["carrier"]), alert)
        return found

    def notice_trigger(
        self,
        rule: DelayNoticeRule,
        order: OrderState,
        alerting: dict[tuple[str, str], AlertRecord] | None = None,
        reached: datetime | None = None,
    ) -> NoticeTrigger | None:
        """Why ``order`` is eligible for a delay notice of ``rule`` now (``None``: it is
        not). An exception wins over the eta, the eta over an alert. ``reached`` is the
        time of the event that brought the order to this state, taken as the time of an
        exception."""
        promised = order.promised_date
        if order.delivered or promised is None or order.country is None:
            return None
        changed = last_change(order)
        if changed is None:
            return None
        triggers = rule.triggers
        if triggers.delivery_exception and order.exceptions:
            at = changed if reached is None else max(changed, reached)
            return NoticeTrigger(order.exceptions[-1], at)
        if triggers.eta_past_promise and order.eta is not None:
            zone = self.rules.time_zone(order.country)
            if order.eta.astimezone(zone).date() > promised:
                known = [t for t in (order.eta_at, order.promised_at) if t is not None]
                return NoticeTrigger("eta_past_promise", max(known) if known else changed)
        if alerting and order.carrier is not None:
            alert = alerting.get((order.country, order.carrier))
            if alert is not None:
                return NoticeTrigger("segment_alerting", max(changed, alert.at), alert)
        return None

    def _notice_action(
        self,
        rule: DelayNoticeRule,
        order: OrderState,
        trigger: NoticeTrigger,
        profile: CustomerProfile | None,
    ) -> ActionRecord:
        assert order.promised_date is not None
        assert order.country is not None
        country = order.country
        zone = self.rules.time_zone(country)
        at = trigger.at
        promise_ends = _end_of_day(order.promised_date, zone)
        detail: dict[str, Any] = {
            "template": rule.template,
            # Unknown profile: the notifier uses the customer's language at send time.
            "language": rule.language_for(profile.language) if profile is not None else None,
            "promised_date": order.promised_date.isoformat(),
            "eta": order.eta.isoformat() if order.eta is not None else None,
            "carrier": order.carrier,
            "reason": trigger.reason,
            "country": country,
            "after_promise": at >= promise_ends,
            "send_by": _utc(promise_ends - rule.lead_time),
        }
        hours = self.rules.quiet_hours(country, rule)
        if hours is not None:
            allowed = hours.next_allowed(at, zone)
            if allowed != at:
                detail["not_before"] = _utc(allowed)
        if trigger.alert is not None:
            detail["alert_id"] = trigger.alert.alert_id
        return ActionRecord(
            action_id=action_id(rule.name, f"order:{order.order_id}"),
            type="delay_notice",
            at=at,
            rule=rule.name,
            order_id=order.order_id,
            customer_id=order.customer_id,
            detail=detail,
        )

    # -- answers -------------------------------------------------------------------------------
    async def _plan_feedback(
        self,
        feedback: Sequence[EnrichedFeedback],
        notices: dict[tuple[str, str], ActionRecord],
    ) -> list[ActionRecord]:
        proposed: list[tuple[FeedbackClaim, list[ActionRecord], ApologyRule | None]] = []
        for fb in feedback:
            event = fb.event
            profile = fb.profile
            cid = event.customer_id
            partition = self._partition(cid)
            for apology in self.rules.apology_rules:
                if not apology.score.contains(event.score) or not _contactable(profile):
                    continue
                assert profile is not None
                sent = self._notice_sent(fb, notices)
                action = self._apology_action(apology, fb, profile, sent)
                claim = FeedbackClaim(
                    apology.name,
                    action.action_id,
                    event.event_id,
                    cid,
                    partition,
                    event.ts,
                    apology.per_customer_within,
                )
                proposed.append((claim, [action], apology))
            if profile is not None and profile.contact_opt_out:
                continue
            segment = self._segment(fb)
            order_value = fb.order.value if fb.order is not None else None
            for vip in self.rules.vip_task_rules:
                if not vip.applies(segment, event.score, order_value):
                    continue
                tasks = self._vip_actions(vip, fb, segment)
                claim = FeedbackClaim(
                    vip.name, tasks[0].action_id, event.event_id, cid, partition, event.ts
                )
                proposed.append((claim, tasks, None))

        granted = await self.state.claim_feedback([claim for claim, _, _ in proposed])
        decided: list[ActionRecord] = []
        by_pool: dict[str, list[int]] = {}
        for (_, records, apology_rule), ok in zip(proposed, granted, strict=True):
            if not ok:
                continue
            if apology_rule is not None and apology_rule.voucher_pool is not None:
                by_pool.setdefault(apology_rule.voucher_pool, []).append(len(decided))
            decided.extend(records)
        for pool_name, positions in by_pool.items():
            pool = self.rules.voucher_pool(pool_name)
            codes = await self.state.assign_vouchers(
                pool, [decided[i].action_id for i in positions]
            )
            for i in positions:
                code = codes.get(decided[i].action_id)
                if code is not None:
                    record = decided[i]
                    decided[i] = record.model_copy(
                        update={"detail": {**record.detail, "voucher": code}}
                    )
        return decided

    def _notice_sent(
        self, fb: EnrichedFeedback, notices: dict[tuple[str, str], ActionRecord]
    ) -> bool:
        order_id = fb.event.order_id
        if not order_id:
            return False
        for rule in self.rules.delay_notice_rules:
            notice = notices.get((rule.name, order_id))
            if notice is not None and notice.at <= fb.event.ts:
                return True
        return False

    @staticmethod
    def _segment(fb: EnrichedFeedback) -> str | None:
        """The customer's segment as of the answer: the profile's, else the answer's."""
        if fb.profile is not None:
            segment = fb.profile.segment_as_of(fb.event.ts)
            if segment:
                return segment
        segment = fb.dims.get("segment") or fb.event.segment
        return None if segment == "unknown" else segment

    def _apology_action(
        self,
        rule: ApologyRule,
        fb: EnrichedFeedback,
        profile: CustomerProfile,
        notice_sent: bool,
    ) -> ActionRecord:
        event = fb.event
        reasons = list(event.reasons)
        detail: dict[str, Any] = {
            "template": rule.templates.choose(reasons, notice_sent),
            "language": rule.language_for(profile.language or event.language),
            "reasons": reasons,
            "score": event.score,
            "delay_notice_sent": notice_sent,
            "country": event.country,
            "channel": event.channel,
        }
        hours = self.rules.quiet_hours(event.country)
        if hours is not None:
            allowed = hours.next_allowed(event.ts, self.rules.time_zone(event.country))
            if allowed != event.ts:
                detail["not_before"] = _utc(allowed)
        return ActionRecord(
            action_id=action_id(rule.name, subject_of(fb)),
            type="apology_email",
            at=event.ts,
            rule=rule.name,
            order_id=event.order_id,
            customer_id=event.customer_id,
            detail=detail,
        )

    def _vip_actions(
        self, rule: VipTaskRule, fb: EnrichedFeedback, segment: str | None
    ) -> list[ActionRecord]:
        event = fb.event
        order = fb.order
        language = (fb.profile.language if fb.profile else None) or event.language or "en"
        delivered = (
            order is not None and order.delivered_at is not None and order.delivered_at <= event.ts
        )
        sla_due = event.ts + rule.sla
        subject = subject_of(fb)
        task_id = action_id(rule.name, subject)
        detail: dict[str, Any] = {
            "receiver": rule.receiver,
            "score": event.score,
            "reasons": list(event.reasons),
            "segment": segment or "",
            "language": language,
            "country": event.country,
            "order_history": order_history(order) if order is not None else [],
            "suggested_apology": suggested_apology(
                language,
                event.reasons,
                late_days=fb.late_days,
                exceptions=fb.exception_reasons,
                delivered=delivered,
            ),
            "sla_due": _utc(sla_due),
            "renotify": False,
            "task_id": task_id,
        }
        channels = self.rules.receiver(rule.receiver).slack_channels
        if channels:
            detail["channel"] = channels[0]
        if rule.ticket_webhook is not None:
            detail["ticket_webhook"] = rule.ticket_webhook
        task = ActionRecord(
            action_id=task_id,
            type="vip_apology_task",
            at=event.ts,
            rule=rule.name,
            order_id=event.order_id,
            customer_id=event.customer_id,
            detail=detail,
        )
        if not rule.renotify_after_sla:
            return [task]
        every = rule.renotify_every
        count = rule.max_reminders if every is not None else 1
        reminders = [
            task.model_copy(
                update={
                    "action_id": action_id(rule.name, subject, f"renotify-{k}"),
                    "detail": {
                        **detail,
                        "renotify": True,
                        "not_before": _utc(sla_due + (k - 1) * every if every else sla_due),
                    },
                }
            )
            for k in range(1, count + 1)
        ]
        return [task, *reminders]
