"""The simulation of one generator configuration, run day by day.

Each UTC day, order, support-contact and profile-update arrivals are drawn for every
country following its daily and weekly rhythm and simulated in time order; the events that
fall on the day are then emitted and forgotten. Warm-up days are simulated but not emitted.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

from cxstream.generator.calendar import DAY, HOUR, epoch, fmt_ts, weekday
from cxstream.generator.config import GeneratorConfig
from cxstream.generator.countries import build_countries
from cxstream.generator.customers import Customers
from cxstream.generator.feedback import Surveys
from cxstream.generator.orders import Orders
from cxstream.generator.rhythm import RHYTHM
from cxstream.generator.sampling import poisson
from cxstream.generator.timeline import Timeline

__all__ = ["Simulation"]


class Simulation:
    """Generates the events of one configuration, day by day."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        self.countries = build_countries(config)
        self.timeline = Timeline(epoch(config.start), epoch(config.end))
        self.start_ts = self.timeline.start_ts
        self.end_ts = self.timeline.end_ts
        self.gen_start = self.start_ts - config.warmup_days * DAY
        self.customers = Customers(config, self.rng, self.countries, self.timeline)
        self.surveys = Surveys(config, self.rng, self.timeline, self.customers)
        self.orders = Orders(config, self.rng, self.timeline, self.customers, self.surveys)

    def simulate_day(self, day: int) -> None:
        """Simulate the arrivals of UTC ``day`` (within the simulated span) in time order."""
        rng = self.rng
        r = rng.random
        cfg = self.cfg
        day_start = day * DAY
        lo = max(day_start, self.gen_start)
        hi = min(day_start + DAY, self.end_ts)
        if lo >= hi:
            return
        actions: list[tuple[int, int, int]] = []
        support_per_order = cfg.response_rate * cfg.support_feedback_share
        for c in self.countries:
            volume = cfg.orders_per_day * c.weight * math.exp(rng.gauss(0.0, 0.06))
            for h in range(24):
                hour_start = day_start + h * HOUR
                if hour_start + HOUR <= lo or hour_start >= hi:
                    continue
                local = hour_start + c.offset
                factor = RHYTHM[weekday(local // DAY)][(local % DAY) // HOUR]
                lam = volume * factor / 24.0
                for _ in range(poisson(rng, lam)):
                    t = hour_start + int(r() * HOUR)
                    if lo <= t < hi:
                        actions.append((t, 0, c.index))
                for _ in range(poisson(rng, lam * support_per_order)):
                    t = hour_start + int(r() * HOUR)
                    if lo <= t < hi:
                        actions.append((t, 1, c.index))
        for _ in range(poisson(rng, cfg.orders_per_day * cfg.profile_update_rate)):
            actions.append((lo + int(r() * (hi - lo)), 2, 0))
        actions.sort()
        countries = self.countries
        for t, what, ci in actions:
            if what == 0:
                self.orders.order(t, countries[ci])
            elif what == 1:
                self.surveys.support_feedback(t, countries[ci])
            else:
                self.customers.profile_update(t)

    def run(self) -> Iterator[dict[str, Any]]:
        """Simulate every day and yield the events of the window with ids and timestamps."""
        first_day = self.gen_start // DAY
        last_day = (self.end_ts - 1) // DAY
        start_ts = self.start_ts
        dup_rate = self.cfg.duplicate_rate
        dup_random = random.Random(f"{self.cfg.seed}:duplicates").random
        pending = self.customers.pending_profiles
        n = 0
        for day in range(first_day, last_day + 1):
            self.simulate_day(day)
            for t, _, event in self.timeline.pop_day(day):
                if t < start_ts:
                    continue
                stamp = fmt_ts(t)
                if pending:
                    profile = pending.pop(event["customer_id"], None)
                    if profile is not None and event["kind"] != "customer":
                        n += 1
                        profile["event_id"] = f"e{n:09d}"
                        profile["ts"] = stamp
                        yield profile
                n += 1
                event["event_id"] = f"e{n:09d}"
                event["ts"] = stamp
                yield event
                if dup_rate and dup_random() < dup_rate:
                    copy = dict(event)
                    if "reasons" in copy:
                        copy["reasons"] = list(copy["reasons"])
                    yield copy
