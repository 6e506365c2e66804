"""Order lifecycle: placement, promise, shipping, delivery, returns and refunds of one order.

Everything that will happen to an order is decided when it is placed; its logistics events
(with consistent ids, carrier, promised date and moving ETAs) and the survey answers it
leads to are scheduled on the timeline.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from typing import Any

from cxstream.generator.calendar import (
    DAY,
    HOUR,
    MINUTE,
    SUNDAY,
    add_delivery_days,
    day_str,
    fmt_ts,
    next_delivery_day,
    prev_delivery_day,
    weekday,
)
from cxstream.generator.config import GeneratorConfig
from cxstream.generator.countries import Country
from cxstream.generator.customers import Customers
from cxstream.generator.feedback import ANSWER_DELAY, FEEDBACK_CHANNEL, Surveys
from cxstream.generator.lateness import EXCEPTION_LATE, PLAIN_LATE
from cxstream.generator.sampling import pick
from cxstream.generator.timeline import Timeline

__all__ = ["Orders"]

#: Share of parcels that are damaged in transit.
_DAMAGE_RATE = 0.015
#: Share of orders that contain a wrong item.
_WRONG_ITEM_RATE = 0.01
#: Share of shipments planned to arrive one delivery day before the promised date.
_EARLY_RATE = 0.18
#: Share of shipments with an ``in_transit`` scan.
_IN_TRANSIT_RATE = 0.6
#: Share of parcels hit by a carrier delay incident that get a ``delivery_exception``.
_INCIDENT_EXCEPTION_RATE = 0.6


class Orders:
    """Places orders and schedules everything that happens to them."""

    def __init__(
        self,
        config: GeneratorConfig,
        rng: random.Random,
        timeline: Timeline,
        customers: Customers,
        surveys: Surveys,
    ) -> None:
        self.cfg = config
        self.rng = rng
        self.push = timeline.push
        self.start_ts = timeline.start_ts
        self.end_ts = timeline.end_ts
        self.customers = customers
        self.surveys = surveys
        self.n_orders = 0

    def order(self, t0: int, c: Country) -> None:
        """Place an order at ``t0`` in country ``c`` and schedule its whole lifecycle."""
        rng = self.rng
        r = rng.random
        cust = self.customers.order_customer(c, t0)
        segment = cust.segment
        region = cust.region
        channel = pick(c.channel_names, c.channel_cum, r())
        self.n_orders += 1
        oid = f"o{self.n_orders:08d}"
        cid = cust.cid
        code = c.code
        off = c.offset
        push = self.push
        start = self.start_ts
        base: dict[str, Any] = {
            "kind": "logistics",
            "event_id": "",
            "ts": "",
            "order_id": oid,
            "customer_id": cid,
            "type": "order_placed",
            "country": code,
            "region": region,
            "channel": channel,
            "segment": segment,
        }

        # Placement and promise.
        local0 = t0 + off
        day0 = local0 // DAY
        sec0 = local0 - day0 * DAY
        if sec0 < 15 * HOUR and weekday(day0) != SUNDAY:
            ship_t = t0 + 90 * MINUTE + int(r() * 6 * HOUR)
            ship_day = (ship_t + off) // DAY
        else:
            ship_day = day0 + 1
            if weekday(ship_day) == SUNDAY:
                ship_day += 1
            ship_t = ship_day * DAY - off + 7 * HOUR + int(r() * 6 * HOUR)
        bdays = c.promise_days - (segment == "vip") + (channel == "email")
        bdays = 1 if bdays < 1 else 3 if bdays > 3 else bdays
        promised_day = add_delivery_days(ship_day, bdays)
        promised = day_str(promised_day)

        if t0 >= start:
            ev = base.copy()
            ev["promised_date"] = promised
            push(t0, ev)

        # Carrier and what will happen on the way.
        carrier = pick(c.carrier_names, c.carrier_cum, r())
        origin = c.origins[int(r() * len(c.origins))]
        planned_day = promised_day
        if r() < _EARLY_RATE:
            earlier = prev_delivery_day(promised_day)
            if earlier > ship_day:
                planned_day = earlier
        tod = 9 * HOUR + int(r() * 10.5 * HOUR)
        planned_t = planned_day * DAY - off + tod
        exception_reason: str | None = None
        if r() < c.exception_rate:
            exception_reason = pick(c.exc_reason_names, c.exc_reason_cum, r())
            late = EXCEPTION_LATE[0][bisect_right(EXCEPTION_LATE[1], r())]
        elif r() < c.plain_late[carrier]:
            late = PLAIN_LATE[0][bisect_right(PLAIN_LATE[1], r())]
        else:
            late = 0
        actual_day = planned_day
        if late:
            actual_day = promised_day
            for _ in range(late):
                actual_day = next_delivery_day(actual_day)
        actual_t = actual_day * DAY - off + tod
        exception_t = 0
        incident_hit = False
        for s, e, extra in c.carrier_incidents.get(carrier, ()):
            if ship_t < e and planned_t >= s:
                incident_hit = True
                # Backlogs clear unevenly: the delay averages ``extra`` (0.6x to 1.4x).
                delay = int(extra * (0.6 + 0.8 * r()))
                actual_t = self.snap_delivery(actual_t + delay, off)
                if exception_reason is None and r() < _INCIDENT_EXCEPTION_RATE:
                    exception_reason = "capacity"
                    exception_t = max(ship_t, s) + HOUR + int(r() * 10 * HOUR)
                break
        actual_day = (actual_t + off) // DAY
        late_days = actual_day - promised_day
        ofd_t = max(actual_t - HOUR - int(r() * 4 * HOUR), actual_day * DAY - off + 6 * HOUR)
        if ofd_t <= ship_t:
            ofd_t = ship_t + (actual_t - ship_t) // 2
        planned_eta = fmt_ts(planned_t)
        actual_eta = fmt_ts(actual_t) if actual_t != planned_t else planned_eta

        base["carrier"] = carrier
        base["origin"] = origin
        if ship_t >= start:
            ev = base.copy()
            ev["type"] = "shipped"
            ev["eta"] = planned_eta
            ev["promised_date"] = promised
            push(ship_t, ev)
        span = ofd_t - ship_t
        if r() < _IN_TRANSIT_RATE:
            it_t = ship_t + int(span * (0.15 + 0.3 * r()))
            delayed = (late_days > 0 or incident_hit) and r() < 0.4
            if it_t >= start:
                ev = base.copy()
                ev["type"] = "in_transit"
                ev["eta"] = actual_eta if delayed else planned_eta
                push(it_t, ev)
        if exception_reason is not None:
            if not exception_t or exception_t >= ofd_t - 30 * MINUTE:
                exception_t = ship_t + int(span * (0.5 + 0.4 * r()))
            if exception_t >= start:
                ev = base.copy()
                ev["type"] = "delivery_exception"
                ev["reason"] = exception_reason
                ev["eta"] = actual_eta
                push(exception_t, ev)
        if ofd_t >= start:
            ev = base.copy()
            ev["type"] = "out_for_delivery"
            ev["eta"] = actual_eta
            push(ofd_t, ev)
        if actual_t >= start:
            ev = base.copy()
            ev["type"] = "delivered"
            ev["promised_date"] = promised
            push(actual_t, ev)

        # What the customer got and how they feel about it.
        damaged = r() < _DAMAGE_RATE
        wrong_item = r() < _WRONG_ITEM_RATE
        shift = 0.0
        causes: list[tuple[str, float]] = []
        if late_days > 0:
            shift -= 1.6 + 0.7 * min(late_days, 3)
        if exception_reason is not None:
            shift -= 0.8
        if incident_hit:
            # The customer watched the ETA slip even if the promise was still kept.
            shift -= 1.0
        if late_days > 0 or incident_hit:
            causes.append(("delivery_late", 6.0))
        elif exception_reason is not None:
            causes.append(("delivery_late", 2.0))
        if damaged:
            shift -= 4.0
            causes.append(("delivery_damaged", 6.0))
        if wrong_item:
            shift -= 4.5
            causes.append(("wrong_item", 6.0))
        if self.cfg.response_rate > 0.0:
            rate = self.cfg.response_rate * (
                1.25 if segment == "vip" else 0.9 if segment == "new" else 1.0
            )
            if late_days > 0 or damaged or wrong_item:
                rate *= 1.2
            if r() < rate:
                d = ANSWER_DELAY[0][bisect_right(ANSWER_DELAY[1], r())]
                fch_names, fch_cum = FEEDBACK_CHANNEL.get(channel, FEEDBACK_CHANNEL["web"])
                self.surveys.feedback(
                    self.surveys.answer_time(c, actual_t, d),
                    c,
                    cust,
                    segment,
                    region,
                    pick(fch_names, fch_cum, r()),
                    oid,
                    "delivery",
                    shift,
                    causes,
                )

        # Returns and refunds.
        return_rate = 0.85 if (damaged or wrong_item) else c.return_rate
        if r() >= return_rate:
            return
        reg_t = actual_t + 6 * HOUR + int(min(rng.expovariate(1.0 / 4.0), 20.0) * DAY)
        if reg_t >= self.end_ts:
            return
        rec_t = reg_t + int((2.0 + 4.0 * r()) * DAY)
        refund_days = c.refund_lo + (c.refund_hi - c.refund_lo) * r()
        ref_t = rec_t + int(refund_days * DAY)
        del base["origin"]
        for t, typ in (
            (reg_t, "return_registered"),
            (rec_t, "return_received"),
            (ref_t, "refund_issued"),
        ):
            if t >= start:
                ev = base.copy()
                ev["type"] = typ
                push(t, ev)
        if r() < self.cfg.return_response_rate:
            return_causes: list[tuple[str, float]] = []
            rshift = 0.0
            if rec_t - reg_t > 4 * DAY:
                return_causes.append(("return_slow", 4.0))
                rshift -= 1.0
            if refund_days > (c.refund_lo + c.refund_hi) / 2.0:
                return_causes.append(("refund_slow", 4.0))
                rshift -= 1.5
            if damaged:
                return_causes.append(("delivery_damaged", 3.0))
                rshift -= 2.0
            elif wrong_item:
                return_causes.append(("wrong_item", 3.0))
                rshift -= 2.0
            fch_names, fch_cum = FEEDBACK_CHANNEL.get(channel, FEEDBACK_CHANNEL["web"])
            self.surveys.feedback(
                self.surveys.answer_time(c, ref_t, int(r() * 2)),
                c,
                cust,
                segment,
                region,
                pick(fch_names, fch_cum, r()),
                oid,
                "return",
                rshift,
                return_causes,
            )

    @staticmethod
    def snap_delivery(t: int, off: int) -> int:
        """Move a delivery time into delivery hours (08-20 local, Monday to Saturday)."""
        local = t + off
        day, sec = divmod(local, DAY)
        if sec < 8 * HOUR:
            sec = 8 * HOUR + sec % (3 * HOUR)
        elif sec >= 20 * HOUR:
            day += 1
            sec = 8 * HOUR + sec % (3 * HOUR)
        if weekday(day) == SUNDAY:
            day += 1
        return day * DAY + sec - off
