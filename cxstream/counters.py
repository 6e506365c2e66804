"""Which counters an event adds to its segment's event-time bucket.

The counters are the raw material of every KPI: NPS is
``(promoters - detractors) / responses``, the late rate ``delivered_late /
delivered``, a reason's share ``reason:<code> / responses``. Keeping counts (not
rates) makes buckets additive across partitions, workers and windows.

Feedback counters: ``responses``, ``promoters``, ``passives``, ``detractors``,
``effort_n``, ``effort_sum``, ``reason:<code>``, ``det_reason:<code>``, ``linked``
(answers whose order is known), ``late_linked`` (of those, order late),
``detractors_linked``, ``detractors_late``.

Logistics counters: ``placed``, ``shipped``, ``delivered``, ``delivered_late``,
``delay_days`` (summed over late deliveries), ``exceptions``, ``exception:<reason>``,
``predicted_late`` (orders whose eta first moved past the promise), ``returns``,
``refunds``, ``refund_hours`` (return received to refund, summed over ``refunds_timed``).
"""

from __future__ import annotations

from cxstream.events import FeedbackEvent, LogisticsEvent
from cxstream.orders import OrderState

__all__ = ["feedback_counters", "logistics_counters"]

_NPS_FIELD = {"promoter": "promoters", "passive": "passives", "detractor": "detractors"}


def feedback_counters(event: FeedbackEvent, order: OrderState | None) -> list[tuple[str, int]]:
    """Counters for one survey answer, joined with its order's state as of the answer."""
    out: list[tuple[str, int]] = [("responses", 1), (_NPS_FIELD[event.nps_class], 1)]
    detractor = event.nps_class == "detractor"
    for code in event.reasons:
        out.append((f"reason:{code}", 1))
        if detractor:
            out.append((f"det_reason:{code}", 1))
    if event.effort is not None:
        out.append(("effort_n", 1))
        out.append(("effort_sum", event.effort))
    if order is not None and order.promised_as_of(event.ts) is not None:
        late = order.was_late(as_of=event.ts)
        out.append(("linked", 1))
        if late:
            out.append(("late_linked", 1))
        if detractor:
            out.append(("detractors_linked", 1))
            if late:
                out.append(("detractors_late", 1))
    return out


def logistics_counters(
    event: LogisticsEvent, order: OrderState, first: bool
) -> list[tuple[str, int]]:
    """Counters for one logistics event, given the order state after it and whether the
    event's milestone happened for the first time. Marks the order once it has been
    counted as predicted late."""
    out: list[tuple[str, int]] = []
    kind = event.type
    if kind == "delivery_exception":
        reason = event.reason or "unspecified"
        out.append(("exceptions", 1))
        out.append((f"exception:{reason}", 1))
    elif not first:
        pass
    elif kind == "order_placed":
        out.append(("placed", 1))
    elif kind == "shipped":
        out.append(("shipped", 1))
    elif kind == "delivered":
        out.append(("delivered", 1))
        days = order.late_days()
        if days is not None and days > 0:
            out.append(("delivered_late", 1))
            out.append(("delay_days", days))
    elif kind == "return_registered":
        out.append(("returns", 1))
    elif kind == "refund_issued":
        out.append(("refunds", 1))
        if order.return_received_at is not None and order.refunded_at is not None:
            hours = (order.refunded_at - order.return_received_at).total_seconds() / 3600
            out.append(("refunds_timed", 1))
            out.append(("refund_hours", max(0, round(hours))))
    if not order.predicted_late_flagged and order.predicted_late():
        order.predicted_late_flagged = True
        out.append(("predicted_late", 1))
    return out
