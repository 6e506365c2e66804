"""Survey answers: feedback scores, reasons, effort and comments of the simulated customers.

An answer's latent score starts at the country's base satisfaction and is shifted by what
happened to the order (lateness, exceptions, damage, wrong item), by the customer's segment,
by a slow day-to-day drift and by app incidents; the reasons given follow the same causes.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from typing import Any

from cxstream.generator.calendar import DAY, HOUR, MINUTE
from cxstream.generator.config import GeneratorConfig
from cxstream.generator.countries import Country
from cxstream.generator.customers import Customer, Customers
from cxstream.generator.rhythm import ANSWER_HOURS
from cxstream.generator.sampling import pick, weighted_choice
from cxstream.generator.scores import SCORE_SIGMA
from cxstream.generator.texts import COMMENT_KEY, COMMENTS
from cxstream.generator.timeline import Timeline

__all__ = ["ANSWER_DELAY", "FEEDBACK_CHANNEL", "Surveys"]

#: Background reasons of a 0..8 answer when nothing specific went wrong.
_BACKGROUND_REASONS: tuple[tuple[str, float], ...] = (
    ("item_quality", 1.0),
    ("price", 0.8),
    ("other", 0.5),
    ("checkout_problem", 0.3),
    ("delivery_late", 0.25),
    ("support_unreachable", 0.2),
    ("delivery_damaged", 0.1),
)
_APP_BACKGROUND_REASONS = (*_BACKGROUND_REASONS, ("app_crash", 0.35))

#: Feedback channel given the order channel.
FEEDBACK_CHANNEL: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "web": (("web", "email"), (0.7, 1.0)),
    "app": (("app", "email", "web"), (0.8, 0.95, 1.0)),
    "email": (("email", "web"), (0.8, 1.0)),
}
_SUPPORT_CHANNELS = (("web", "email", "app"), (0.45, 0.8, 1.0))

#: Days from delivery to the survey answer.
ANSWER_DELAY = ((0, 1, 2, 3), (0.45, 0.75, 0.9, 1.0))


class Surveys:
    """Emits the survey answers of orders, returns and support contacts."""

    def __init__(
        self,
        config: GeneratorConfig,
        rng: random.Random,
        timeline: Timeline,
        customers: Customers,
    ) -> None:
        self.cfg = config
        self.rng = rng
        self.push = timeline.push
        self.start_ts = timeline.start_ts
        self.end_ts = timeline.end_ts
        self.customers = customers
        self.drift_cache: dict[tuple[int, int], float] = {}

    def nps_drift(self, country: int, t: int) -> float:
        """Slow day-to-day wobble of a country's satisfaction (latent units)."""
        key = (country, t // DAY)
        v = self.drift_cache.get(key)
        if v is None:
            v = random.Random(f"{self.cfg.seed}:drift:{key[0]}:{key[1]}").gauss(0.0, 0.12)
            self.drift_cache[key] = v
        return v

    def answer_time(self, c: Country, earliest: int, day_offset: int) -> int:
        """A plausible local time-of-day for a survey answer ``day_offset`` days later."""
        r = self.rng.random
        local_day = (earliest + c.offset) // DAY + day_offset
        hour = bisect_right(ANSWER_HOURS, r() * ANSWER_HOURS[-1])
        t = local_day * DAY - c.offset + min(hour, 23) * HOUR + int(r() * HOUR)
        if t <= earliest + 15 * MINUTE:
            t = earliest + 15 * MINUTE + int(r() * 3 * HOUR)
        return t

    def feedback(
        self,
        t: int,
        c: Country,
        cust: Customer,
        segment: str,
        region: str,
        channel: str,
        order_id: str | None,
        touchpoint: str,
        shift: float,
        causes: list[tuple[str, float]],
    ) -> None:
        """Emit one survey answer at ``t`` if it falls in the window.

        ``shift`` lowers (or raises) the latent score; ``causes`` are ``(reason, weight)``
        pairs that what happened makes likely reasons of a low score.
        """
        if t < self.start_ts or t >= self.end_ts:
            return
        rng = self.rng
        r = rng.random
        mu = c.mu + c.region_mu.get(region, 0.0) + self.nps_drift(c.index, t) + shift
        if segment == "vip":
            mu += 0.3
        elif segment == "new":
            mu -= 0.2
        if channel == "app" and c.app_incidents:
            for s, e, drop, reason in c.app_incidents:
                if s <= t < e:
                    mu -= drop
                    causes = [*causes, (reason, 8.0)]
                    break
        score = int(rng.gauss(mu, SCORE_SIGMA) + 0.5)
        score = 0 if score < 0 else 10 if score > 10 else score
        if score <= 4 and r() < 0.3:
            score = 0  # angry answers pile up at the bottom of the scale
        event: dict[str, Any] = {
            "kind": "feedback",
            "event_id": "",
            "ts": "",
            "customer_id": cust.cid,
        }
        if order_id is not None:
            event["order_id"] = order_id
        event["score"] = score
        reasons: list[str] = []
        if score <= 8:
            u = r()
            n = (1 if u < 0.8 else 2) if score >= 7 else (1 if u < 0.45 else 2 if u < 0.8 else 3)
            candidates = dict(_APP_BACKGROUND_REASONS if channel == "app" else _BACKGROUND_REASONS)
            if causes and r() < 0.9:
                primary = weighted_choice(rng, causes)
                reasons.append(primary)
                candidates.pop(primary, None)
            for code, weight in causes:
                if code not in reasons:
                    candidates[code] = candidates.get(code, 0.0) + weight
            while len(reasons) < n and candidates:
                code = weighted_choice(rng, list(candidates.items()))
                reasons.append(code)
                del candidates[code]
            event["reasons"] = reasons
        if r() < self.cfg.effort_rate:
            effort = int(1.0 + (10 - score) * 0.45 + rng.gauss(0.0, 0.9) + 0.5)
            event["effort"] = 1 if effort < 1 else 7 if effort > 7 else effort
        event["channel"] = channel
        event["country"] = c.code
        event["region"] = region
        event["segment"] = segment
        event["touchpoint"] = touchpoint
        event["language"] = cust.language
        if r() < (0.2 if score <= 6 else 0.08):
            key = COMMENT_KEY.get(reasons[0], "generic") if reasons else "positive"
            event["comment"] = COMMENTS.get(cust.language, COMMENTS["en"])[key]
        self.push(t, event)

    def support_feedback(self, t: int, c: Country) -> None:
        """An answer without an order: after a support, app or checkout contact."""
        r = self.rng.random
        cust = self.customers.existing_customer(c, t)
        channel = pick(*_SUPPORT_CHANNELS, r())
        if r() < 0.7:
            touchpoint = "support"
            causes = [("support_unreachable", 3.0), ("refund_slow", 1.5), ("return_slow", 0.8)]
            shift = -1.8
        elif channel == "app":
            touchpoint = "app"
            causes = [("app_crash", 2.0), ("checkout_problem", 1.0)]
            shift = -1.0
        else:
            touchpoint = "checkout"
            causes = [("checkout_problem", 3.0), ("price", 1.0)]
            shift = -1.0
        self.feedback(
            t, c, cust, cust.segment, cust.region, channel, None, touchpoint, shift, causes
        )
