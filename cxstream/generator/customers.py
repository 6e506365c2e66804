"""The simulated customer population and the CRM profiles it emits.

Each country has a pool of returning customers, filled lazily: a customer's profile is
emitted when the customer first appears and again whenever it changes (latest wins).
"""

from __future__ import annotations

import random
from typing import Any

from cxstream.generator.calendar import DAY
from cxstream.generator.config import GeneratorConfig
from cxstream.generator.countries import Country
from cxstream.generator.sampling import pick
from cxstream.generator.texts import NAMES
from cxstream.generator.timeline import Timeline

__all__ = ["Customer", "Customers"]


class Customer:
    """One customer's CRM record as it currently stands."""

    __slots__ = ("cid", "country", "language", "name", "opt_out", "region", "segment")

    def __init__(
        self,
        cid: str,
        country: str,
        region: str,
        language: str,
        segment: str,
        name: str,
        opt_out: bool,
    ) -> None:
        self.cid = cid
        self.country = country
        self.region = region
        self.language = language
        self.segment = segment
        self.name = name
        self.opt_out = opt_out


class Customers:
    """All customers of the simulated shop, with one returning-customer pool per country."""

    def __init__(
        self,
        config: GeneratorConfig,
        rng: random.Random,
        countries: list[Country],
        timeline: Timeline,
    ) -> None:
        self.cfg = config
        self.rng = rng
        self.countries = countries
        self.push = timeline.push
        self.start_ts = timeline.start_ts
        #: Per country index, the returning customers (``None`` until first seen).
        self.pools: list[list[Customer | None]] = [
            [None] * max(20, round(config.orders_per_day * c.weight * config.customer_pool_days))
            for c in countries
        ]
        self.known: list[Customer] = []
        #: Profiles of customers first seen during the warm-up, by customer id: emitted
        #: right before the customer's first event in the window.
        self.pending_profiles: dict[str, dict[str, Any]] = {}
        self.n_customers = 0

    def new_customer(self, c: Country, segment: str) -> Customer:
        r = self.rng.random
        self.n_customers += 1
        language = pick(c.lang_names, c.lang_cum, r())
        first, last = NAMES.get(language, NAMES["en"])
        cust = Customer(
            cid=f"c{self.n_customers}",
            country=c.code,
            region=pick(c.region_names, c.region_cum, r()),
            language=language,
            segment=segment,
            name=f"{first[int(r() * len(first))]} {last[int(r() * len(last))]}",
            opt_out=r() < self.cfg.opt_out_share,
        )
        self.known.append(cust)
        return cust

    def emit_profile(self, cust: Customer, t: int) -> None:
        profile = {
            "kind": "customer",
            "event_id": "",
            "ts": "",
            "customer_id": cust.cid,
            "email": f"{cust.cid}@example.com",
            "name": cust.name,
            "language": cust.language,
            "segment": cust.segment,
            "country": cust.country,
            "contact_opt_out": cust.opt_out,
        }
        if t < self.start_ts:
            # Warm-up: the stream shows the profile right before the customer's first event.
            self.pending_profiles[cust.cid] = profile
        else:
            self.push(t, profile)

    def existing_customer(self, c: Country, t: int) -> Customer:
        """A customer from the returning population, emitting the profile on first sight."""
        r = self.rng.random
        pool = self.pools[c.index]
        i = int(r() * len(pool))
        cust = pool[i]
        if cust is None:
            segment = "vip" if r() < self.cfg.vip_share else "regular"
            cust = pool[i] = self.new_customer(c, segment)
            self.emit_profile(cust, max(t - 5 - int(r() * 300), (t // DAY) * DAY))
        return cust

    def order_customer(self, c: Country, t: int) -> Customer:
        """The customer placing an order: brand-new or from the returning population."""
        r = self.rng.random
        if r() < self.cfg.new_customer_share:
            cust = self.new_customer(c, "new")
            self.pools[c.index].append(cust)
            # Sign-up shortly before the first checkout.
            self.emit_profile(cust, max(t - 30 - int(r() * 900), (t // DAY) * DAY))
            return cust
        cust = self.existing_customer(c, t)
        if cust.segment == "new":
            cust.segment = "regular"
            self.emit_profile(cust, t)
        return cust

    def profile_update(self, t: int) -> None:
        """A known customer changes something in the CRM profile."""
        if not self.known:
            return
        r = self.rng.random
        cust = self.known[int(r() * len(self.known))]
        u = r()
        if u < 0.35:
            cust.opt_out = not cust.opt_out
        elif u < 0.5 and cust.segment == "regular":
            cust.segment = "vip"
        elif u < 0.75:
            first, last = NAMES.get(cust.language, NAMES["en"])
            cust.name = f"{first[int(r() * len(first))]} {last[int(r() * len(last))]}"
        elif u < 0.85:
            cust.language = "en"
        else:
            c = next(x for x in self.countries if x.code == cust.country)
            cust.region = pick(c.region_names, c.region_cum, r())
        self.emit_profile(cust, t)
