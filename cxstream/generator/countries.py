"""Runtime view of the simulated countries: sampling tables, satisfaction and incidents."""

from __future__ import annotations

import random

from cxstream.generator.calendar import DAY, HOUR, epoch
from cxstream.generator.config import GeneratorConfig
from cxstream.generator.incidents import CarrierDelayIncident
from cxstream.generator.lateness import plain_late_rates
from cxstream.generator.profiles import CountryProfile
from cxstream.generator.sampling import cum
from cxstream.generator.scores import mu_for_nps

__all__ = ["Country", "build_countries"]


class Country:
    """Runtime view of a :class:`CountryProfile` with precomputed sampling tables."""

    __slots__ = (
        "app_incidents",
        "carrier_cum",
        "carrier_incidents",
        "carrier_names",
        "channel_cum",
        "channel_names",
        "code",
        "exc_reason_cum",
        "exc_reason_names",
        "exception_rate",
        "index",
        "lang_cum",
        "lang_names",
        "mu",
        "offset",
        "origins",
        "plain_late",
        "profile",
        "promise_days",
        "refund_hi",
        "refund_lo",
        "region_cum",
        "region_mu",
        "region_names",
        "return_rate",
        "weight",
    )

    def __init__(
        self, index: int, profile: CountryProfile, total_weight: float, rng: random.Random
    ) -> None:
        self.index = index
        self.profile = profile
        self.code = profile.code
        self.weight = profile.weight / total_weight
        self.offset = round(profile.utc_offset_hours * HOUR)
        self.mu = mu_for_nps(profile.base_nps)
        self.region_names = tuple(n for n, _ in profile.regions)
        self.region_cum = cum([w for _, w in profile.regions])
        # Small persistent regional differences in satisfaction.
        self.region_mu = {n: rng.gauss(0.0, 0.15) for n in self.region_names}
        self.lang_names = tuple(n for n, _ in profile.languages)
        self.lang_cum = cum([w for _, w in profile.languages])
        self.channel_names = tuple(n for n, _ in profile.channels)
        self.channel_cum = cum([w for _, w in profile.channels])
        self.carrier_names = tuple(c.name for c in profile.carriers)
        self.carrier_cum = cum([c.weight for c in profile.carriers])
        self.exception_rate = profile.exception_rate
        self.plain_late = plain_late_rates(profile)
        self.exc_reason_names = tuple(n for n, _ in profile.exception_reasons)
        self.exc_reason_cum = cum([w for _, w in profile.exception_reasons])
        self.origins = profile.origins
        self.promise_days = profile.promise_days
        self.return_rate = profile.return_rate
        self.refund_lo, self.refund_hi = profile.refund_days
        #: Per carrier, ``(start, end, extra delay)`` of its delay incidents (epoch seconds).
        self.carrier_incidents: dict[str, list[tuple[int, int, int]]] = {}
        #: ``(start, end, score drop, reason)`` of app NPS incidents (epoch seconds).
        self.app_incidents: list[tuple[int, int, float, str]] = []


def build_countries(config: GeneratorConfig) -> list[Country]:
    """The countries of ``config`` in order, with their incidents attached."""
    setup_rng = random.Random(f"{config.seed}:setup")
    total_weight = sum(c.weight for c in config.countries)
    countries = [Country(i, p, total_weight, setup_rng) for i, p in enumerate(config.countries)]
    by_code = {c.code: c for c in countries}
    for inc in config.incidents:
        country = by_code[inc.country]
        s, e = epoch(inc.start), epoch(inc.end)
        if isinstance(inc, CarrierDelayIncident):
            country.carrier_incidents.setdefault(inc.carrier, []).append(
                (s, e, round(inc.extra_delay_days * DAY))
            )
        else:
            country.app_incidents.append((s, e, inc.score_drop, inc.reason))
    return countries
