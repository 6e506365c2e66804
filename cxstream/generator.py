"""Realistic synthetic CX event stream for demos, tests and benchmarks.

Simulates a multi-country online shop and emits the three contract event kinds
(see ``EVENTS.md``) in event-time order:

* ``customer``: a stable customer population; a CRM profile is emitted when a
  customer first appears and occasionally updated afterwards (latest wins).
* ``logistics``: each order's lifecycle, from ``order_placed`` through shipping
  and delivery to an optional return and refund, with consistent ids, carriers,
  promised dates and moving ETAs.
* ``feedback``: post-delivery (and post-refund, and support) survey answers whose
  score distribution depends on the country's base NPS and strongly on what
  actually happened to the order (lateness, exceptions, damage, wrong item).

Order volume follows a daily and weekly rhythm in each country's local time, and
the baseline carries realistic day-to-day noise. Incidents (a carrier delay, an
app NPS drop) can be injected for a time window to produce anomalies a detector
should find. A few warm-up days are simulated but not emitted, so the stream
starts in steady state. Output is deterministic for a seed and streamed day by
day with a carry-over buffer, so a month of data never has to sit in memory.

:func:`generate_events` yields the events; :func:`generate_lines` adds malformed
raw lines for dead-letter demos; :func:`write_jsonl` writes either to (gzipped)
JSON Lines.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import random
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TextIO

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "AppNpsDropIncident",
    "CarrierDelayIncident",
    "CarrierProfile",
    "CountryProfile",
    "GeneratorConfig",
    "Incident",
    "default_countries",
    "generate_events",
    "generate_lines",
    "write_jsonl",
]

_DAY = 86_400
_HOUR = 3_600
_MINUTE = 60
#: Ordinal of 1970-01-01, to turn "days since the epoch" into a date cheaply.
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: Weekday (Monday = 0) of day 0 since the epoch (1970-01-01 was a Thursday).
_EPOCH_WEEKDAY = 3
_SUNDAY = 6


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


class CarrierDelayIncident(BaseModel):
    """A carrier has trouble in one country during ``[start, end)``.

    Parcels of that carrier in that country that are in the network during the
    window (shipped before ``end`` and due on or after ``start``) arrive
    ``extra_delay_days`` later, many get a ``delivery_exception`` (``capacity``),
    and feedback on those orders scores lower and cites ``delivery_late``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["carrier_delay"] = "carrier_delay"
    country: str = Field(pattern=r"^[A-Z]{2}$")
    carrier: str = Field(pattern=r"^[a-z0-9_]+$")
    start: AwareDatetime
    end: AwareDatetime
    extra_delay_days: float = Field(default=3.0, gt=0.0, le=30.0)

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _to_utc(value)

    @model_validator(mode="after")
    def _check_window(self) -> CarrierDelayIncident:
        if self.end <= self.start:
            raise ValueError("incident end must be after its start")
        return self


class AppNpsDropIncident(BaseModel):
    """App-channel feedback in one country scores lower during ``[start, end)``.

    Every app answer given in the window has its latent score lowered by
    ``score_drop`` points and cites ``reason`` (e.g. a broken barcode scanner).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["app_nps_drop"] = "app_nps_drop"
    country: str = Field(pattern=r"^[A-Z]{2}$")
    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(default="app_scan_failed", pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")
    score_drop: float = Field(default=4.0, ge=0.0, le=10.0)

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _to_utc(value)

    @model_validator(mode="after")
    def _check_window(self) -> AppNpsDropIncident:
        if self.end <= self.start:
            raise ValueError("incident end must be after its start")
        return self


Incident = Annotated[CarrierDelayIncident | AppNpsDropIncident, Field(discriminator="type")]

Weighted = tuple[tuple[str, float], ...]


class CarrierProfile(BaseModel):
    """A carrier serving a country: its share of parcels and relative lateness."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    weight: float = Field(gt=0.0)
    #: Multiplier on the country's late rate, renormalised so that the country's
    #: overall late rate stays ``CountryProfile.late_rate``.
    late_factor: float = Field(default=1.0, gt=0.0)


class CountryProfile(BaseModel):
    """Everything that makes one destination country behave differently."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[A-Z]{2}$")
    #: Relative order volume.
    weight: float = Field(gt=0.0)
    #: NPS of problem-free deliveries (on time, undamaged); problems pull the
    #: observed NPS below this.
    base_nps: float = Field(ge=-90.0, le=90.0)
    #: Hours to add to UTC to get local time (a fixed offset, no DST).
    utc_offset_hours: float = Field(default=1.0, ge=-12.0, le=14.0)
    regions: Weighted
    carriers: tuple[CarrierProfile, ...]
    languages: Weighted
    #: Order channels; ``email`` means re-orders from a newsletter link.
    channels: Weighted = (("web", 0.55), ("app", 0.42), ("email", 0.03))
    #: Warehouses the shipments leave from.
    origins: tuple[str, ...] = ("wh-erfurt",)
    #: Delivery days (Monday to Saturday) from shipping to the promised delivery date
    #: (vip -1, email +1, clamped to 1..3).
    promise_days: int = Field(default=1, ge=1, le=3)
    #: Share of deliveries after the promised date (including exception-caused ones).
    late_rate: float = Field(default=0.06, ge=0.0, le=0.5)
    #: Share of shipments with a ``delivery_exception``.
    exception_rate: float = Field(default=0.015, ge=0.0, le=0.3)
    #: Weights of exception reasons.
    exception_reasons: Weighted = (
        ("weather", 0.3),
        ("capacity", 0.3),
        ("address", 0.25),
        ("customs", 0.1),
        ("strike", 0.05),
    )
    #: Share of delivered orders that are sent back.
    return_rate: float = Field(default=0.15, ge=0.0, le=0.9)
    #: Days from ``return_received`` to ``refund_issued`` (uniform).
    refund_days: tuple[float, float] = (2.0, 5.0)

    @model_validator(mode="after")
    def _check(self) -> CountryProfile:
        for name, items in (
            ("regions", self.regions),
            ("languages", self.languages),
            ("channels", self.channels),
        ):
            if not items or any(w <= 0 for _, w in items):
                raise ValueError(f"{name} must be non-empty with positive weights")
        if not self.carriers or not self.origins:
            raise ValueError("carriers and origins must be non-empty")
        lo, hi = self.refund_days
        if not 0 < lo <= hi <= 60:
            raise ValueError("refund_days must be (low, high) with 0 < low <= high <= 60")
        return self


def _carriers(*items: tuple[str, float, float]) -> tuple[CarrierProfile, ...]:
    return tuple(CarrierProfile(name=n, weight=w, late_factor=f) for n, w, f in items)


def default_countries() -> tuple[CountryProfile, ...]:
    """The default market: six countries with different size, NPS and logistics."""
    return (
        CountryProfile(
            code="DE",
            weight=0.40,
            base_nps=44.0,
            regions=(
                ("NW", 0.22),
                ("BY", 0.16),
                ("BW", 0.13),
                ("NI", 0.10),
                ("HE", 0.08),
                ("BE", 0.07),
                ("SN", 0.05),
                ("HH", 0.04),
                ("RP", 0.05),
                ("SH", 0.04),
                ("TH", 0.03),
                ("BB", 0.03),
            ),
            carriers=_carriers(
                ("dhl", 0.55, 0.9), ("hermes", 0.2, 1.35), ("dpd", 0.18, 1.0), ("ups", 0.07, 0.8)
            ),
            languages=(("de", 0.94), ("en", 0.06)),
            channels=(("web", 0.55), ("app", 0.42), ("email", 0.03)),
            origins=("wh-erfurt", "wh-moenchengladbach"),
            promise_days=1,
            late_rate=0.06,
            return_rate=0.20,
            refund_days=(2.0, 4.0),
        ),
        CountryProfile(
            code="AT",
            weight=0.09,
            base_nps=48.0,
            regions=(
                ("W", 0.22),
                ("NO", 0.19),
                ("OO", 0.17),
                ("ST", 0.14),
                ("T", 0.09),
                ("K", 0.06),
                ("S", 0.06),
                ("V", 0.04),
                ("B", 0.03),
            ),
            carriers=_carriers(("austrian_post", 0.55, 1.0), ("dpd", 0.25, 1.0), ("gls", 0.2, 1.1)),
            languages=(("de", 0.95), ("en", 0.05)),
            channels=(("web", 0.58), ("app", 0.39), ("email", 0.03)),
            origins=("wh-erfurt", "wh-wien"),
            promise_days=2,
            late_rate=0.055,
            return_rate=0.17,
            refund_days=(2.0, 5.0),
        ),
        CountryProfile(
            code="CH",
            weight=0.07,
            base_nps=52.0,
            regions=(
                ("ZH", 0.2),
                ("BE", 0.12),
                ("VD", 0.1),
                ("AG", 0.08),
                ("SG", 0.06),
                ("GE", 0.06),
                ("LU", 0.05),
                ("TI", 0.04),
                ("BS", 0.03),
                ("VS", 0.04),
            ),
            carriers=_carriers(("swiss_post", 0.75, 0.9), ("dhl", 0.15, 1.2), ("ups", 0.10, 1.1)),
            languages=(("de", 0.64), ("fr", 0.26), ("en", 0.10)),
            channels=(("web", 0.6), ("app", 0.37), ("email", 0.03)),
            origins=("wh-zurich", "wh-erfurt"),
            promise_days=2,
            late_rate=0.05,
            exception_rate=0.02,
            exception_reasons=(
                ("customs", 0.5),
                ("weather", 0.15),
                ("capacity", 0.15),
                ("address", 0.2),
            ),
            return_rate=0.12,
            refund_days=(3.0, 6.0),
        ),
        CountryProfile(
            code="NL",
            weight=0.15,
            base_nps=38.0,
            regions=(
                ("ZH", 0.21),
                ("NH", 0.16),
                ("NB", 0.15),
                ("GE", 0.12),
                ("UT", 0.08),
                ("LI", 0.06),
                ("OV", 0.07),
                ("GR", 0.03),
                ("FR", 0.04),
                ("DR", 0.03),
            ),
            carriers=_carriers(("postnl", 0.62, 1.0), ("dhl", 0.28, 0.95), ("dpd", 0.10, 1.1)),
            languages=(("nl", 0.9), ("en", 0.1)),
            channels=(("web", 0.45), ("app", 0.52), ("email", 0.03)),
            origins=("wh-tilburg", "wh-moenchengladbach"),
            promise_days=1,
            late_rate=0.065,
            return_rate=0.15,
            refund_days=(2.0, 4.0),
        ),
        CountryProfile(
            code="FR",
            weight=0.18,
            base_nps=30.0,
            regions=(
                ("IDF", 0.26),
                ("ARA", 0.13),
                ("NAQ", 0.09),
                ("OCC", 0.09),
                ("HDF", 0.09),
                ("PAC", 0.08),
                ("GES", 0.08),
                ("PDL", 0.06),
                ("BRE", 0.05),
                ("NOR", 0.05),
            ),
            carriers=_carriers(
                ("colissimo", 0.45, 1.1),
                ("chronopost", 0.2, 0.8),
                ("mondial_relay", 0.2, 1.2),
                ("ups", 0.15, 0.8),
            ),
            languages=(("fr", 0.96), ("en", 0.04)),
            channels=(("web", 0.6), ("app", 0.37), ("email", 0.03)),
            origins=("wh-lyon", "wh-paris-nord"),
            promise_days=2,
            late_rate=0.075,
            exception_rate=0.018,
            exception_reasons=(
                ("strike", 0.15),
                ("weather", 0.2),
                ("capacity", 0.35),
                ("address", 0.3),
            ),
            return_rate=0.10,
            refund_days=(4.0, 7.0),
        ),
        CountryProfile(
            code="PL",
            weight=0.11,
            base_nps=48.0,
            regions=(
                ("MZ", 0.21),
                ("SL", 0.13),
                ("WP", 0.1),
                ("MA", 0.09),
                ("DS", 0.08),
                ("LD", 0.06),
                ("PM", 0.06),
                ("ZP", 0.04),
                ("KP", 0.05),
                ("LU", 0.05),
            ),
            carriers=_carriers(
                ("inpost", 0.6, 0.85), ("dpd", 0.2, 1.1), ("dhl", 0.1, 1.1), ("gls", 0.1, 1.2)
            ),
            languages=(("pl", 0.95), ("en", 0.05)),
            channels=(("web", 0.4), ("app", 0.57), ("email", 0.03)),
            origins=("wh-poznan",),
            promise_days=1,
            late_rate=0.055,
            return_rate=0.10,
            refund_days=(3.0, 6.0),
        ),
    )


class GeneratorConfig(BaseModel):
    """Parameters of the simulated shop. The defaults give a plausible week of data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: AwareDatetime = datetime(2026, 3, 2, tzinfo=UTC)
    days: int = Field(default=7, ge=1, le=366)
    seed: int = 7
    orders_per_day: int = Field(default=4000, ge=1, le=1_000_000)
    countries: tuple[CountryProfile, ...] = Field(default_factory=default_countries, min_length=1)
    incidents: tuple[Incident, ...] = ()
    #: Share of events re-sent with the same ``event_id`` (at-least-once upstreams).
    duplicate_rate: float = Field(default=0.002, ge=0.0, le=0.5)
    #: Share of malformed lines added by :func:`generate_lines` (dead-letter demos).
    invalid_rate: float = Field(default=0.0, ge=0.0, le=0.5)
    #: Share of delivered orders whose customer answers the survey.
    response_rate: float = Field(default=0.25, ge=0.0, le=1.0)
    #: Share of answers that carry a Customer Effort Score.
    effort_rate: float = Field(default=0.6, ge=0.0, le=1.0)
    #: Share of returned orders answering a post-refund survey.
    return_response_rate: float = Field(default=0.2, ge=0.0, le=1.0)
    #: Answers without an order (support / checkout contacts), relative to order surveys.
    support_feedback_share: float = Field(default=0.04, ge=0.0, le=1.0)
    #: Share of existing customers that are vip.
    vip_share: float = Field(default=0.03, ge=0.0, le=1.0)
    #: Share of orders placed by brand-new customers (segment ``new``).
    new_customer_share: float = Field(default=0.12, ge=0.0, le=1.0)
    #: Share of customers that opted out of contact.
    opt_out_share: float = Field(default=0.02, ge=0.0, le=1.0)
    #: Size of the returning-customer population in days of orders: each customer
    #: orders about once every this many days.
    customer_pool_days: float = Field(default=30.0, gt=0.0, le=3650.0)
    #: Profile updates per day, relative to orders per day.
    profile_update_rate: float = Field(default=0.004, ge=0.0, le=1.0)
    #: Days simulated before ``start`` whose events are not emitted, so that the
    #: stream begins in steady state (deliveries and feedback from the first hour).
    #: A customer first seen during the warm-up has the profile emitted right before
    #: the customer's first event in the window.
    warmup_days: int = Field(default=5, ge=0, le=60)

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _to_utc(value)

    @model_validator(mode="after")
    def _check(self) -> GeneratorConfig:
        codes = [c.code for c in self.countries]
        if len(set(codes)) != len(codes):
            raise ValueError("country codes must be unique")
        carriers = {c.code: {k.name for k in c.carriers} for c in self.countries}
        for inc in self.incidents:
            if inc.country not in carriers:
                raise ValueError(f"incident country {inc.country!r} is not simulated")
            if isinstance(inc, CarrierDelayIncident) and inc.carrier not in carriers[inc.country]:
                raise ValueError(f"carrier {inc.carrier!r} does not serve {inc.country}")
        return self

    @property
    def end(self) -> datetime:
        """End (exclusive) of the emitted event-time window."""
        return self.start + timedelta(days=self.days)


# --------------------------------------------------------------------------------------
# Static tables
# --------------------------------------------------------------------------------------

#: Relative order volume per local hour (0..23): quiet nights, evening peak.
_HOURLY: tuple[float, ...] = (
    0.35, 0.2, 0.12, 0.08, 0.07, 0.1, 0.25, 0.5, 0.7, 0.85, 0.95, 1.0,
    1.1, 1.05, 1.0, 1.0, 1.05, 1.15, 1.35, 1.6, 1.8, 1.75, 1.3, 0.75,
)  # fmt: skip
#: Relative order volume per local weekday (Monday = 0): weak Saturday, strong Sunday.
_WEEKDAY: tuple[float, ...] = (1.08, 1.0, 0.98, 0.97, 0.93, 0.8, 1.12)
#: Extra evening (18-22 h) boost on Sunday and Monday.
_EVENING_BOOST: dict[int, float] = {_SUNDAY: 1.2, 0: 1.15}


def _rhythm() -> tuple[tuple[float, ...], ...]:
    """Weekday x local-hour volume factors, normalised to mean 1."""
    rows = []
    for wd in range(7):
        boost = _EVENING_BOOST.get(wd, 1.0)
        rows.append(
            [_WEEKDAY[wd] * _HOURLY[h] * (boost if 18 <= h <= 22 else 1.0) for h in range(24)]
        )
    mean = sum(sum(r) for r in rows) / (7 * 24)
    return tuple(tuple(v / mean for v in r) for r in rows)


_RHYTHM = _rhythm()

#: Hours in which answers to surveys are given (local), as cumulative weights.
_ANSWER_HOURS = tuple(itertools.accumulate(_HOURLY))

#: Latent-score standard deviation of survey answers.
_SCORE_SIGMA = 2.1

_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "de": (
        ("Anna", "Lukas", "Marie", "Jonas", "Laura", "Felix", "Sophie", "Paul", "Lena", "Max"),
        (
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Hoffmann",
            "Schulz",
        ),
    ),
    "nl": (
        ("Daan", "Emma", "Sem", "Julia", "Lucas", "Tess", "Finn", "Sophie"),
        ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer"),
    ),
    "fr": (
        ("Camille", "Louis", "Léa", "Gabriel", "Chloé", "Jules", "Manon", "Hugo"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"),
    ),
    "pl": (
        ("Zuzanna", "Jakub", "Julia", "Antoni", "Maja", "Jan", "Hanna", "Szymon"),
        (
            "Nowak",
            "Kowalski",
            "Wiśniewski",
            "Wójcik",
            "Kowalczyk",
            "Kamiński",
            "Lewandowski",
            "Zieliński",
        ),
    ),
    "en": (
        ("Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Noah", "Mia"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies"),
    ),
}

_COMMENTS: dict[str, dict[str, str]] = {
    "de": {
        "positive": "Schnelle Lieferung, alles bestens.",
        "late": "Das Paket kam zu spät.",
        "damaged": "Der Karton war beschädigt.",
        "wrong": "Falscher Artikel geliefert.",
        "app": "Scannen in der App funktioniert nicht.",
        "refund": "Die Erstattung dauert viel zu lange.",
        "support": "Beim Kundenservice erreicht man niemanden.",
        "generic": "Ganz okay, aber ausbaufähig.",
    },
    "en": {
        "positive": "Fast delivery, all good.",
        "late": "The parcel arrived late.",
        "damaged": "The box was damaged.",
        "wrong": "I received the wrong item.",
        "app": "Scanning in the app keeps failing.",
        "refund": "The refund is taking far too long.",
        "support": "Could not reach customer service.",
        "generic": "Okay, could be better.",
    },
    "fr": {
        "positive": "Livraison rapide, parfait.",
        "late": "Colis arrivé en retard.",
        "damaged": "Le carton était abîmé.",
        "wrong": "J'ai reçu le mauvais article.",
        "app": "Le scan dans l'appli ne marche pas.",
        "refund": "Le remboursement est trop long.",
        "support": "Impossible de joindre le service client.",
        "generic": "Correct, mais peut mieux faire.",
    },
    "nl": {
        "positive": "Snelle levering, prima.",
        "late": "Het pakket kwam te laat.",
        "damaged": "De doos was beschadigd.",
        "wrong": "Verkeerd artikel ontvangen.",
        "app": "Scannen in de app werkt niet.",
        "refund": "Terugbetaling duurt te lang.",
        "support": "Klantenservice is onbereikbaar.",
        "generic": "Prima, maar kan beter.",
    },
    "pl": {
        "positive": "Szybka dostawa, wszystko w porządku.",
        "late": "Paczka przyszła z opóźnieniem.",
        "damaged": "Karton był uszkodzony.",
        "wrong": "Otrzymałem niewłaściwy produkt.",
        "app": "Skanowanie w aplikacji nie działa.",
        "refund": "Zwrot pieniędzy trwa za długo.",
        "support": "Nie można dodzwonić się do obsługi klienta.",
        "generic": "W porządku, ale mogłoby być lepiej.",
    },
}

_COMMENT_KEY: dict[str, str] = {
    "delivery_late": "late",
    "delivery_damaged": "damaged",
    "wrong_item": "wrong",
    "app_scan_failed": "app",
    "app_crash": "app",
    "refund_slow": "refund",
    "return_slow": "refund",
    "support_unreachable": "support",
}

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
_FEEDBACK_CHANNEL: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "web": (("web", "email"), (0.7, 1.0)),
    "app": (("app", "email", "web"), (0.8, 0.95, 1.0)),
    "email": (("email", "web"), (0.8, 1.0)),
}
_SUPPORT_CHANNELS = (("web", "email", "app"), (0.45, 0.8, 1.0))

#: Extra lateness of an exception shipment (days after the promised date).
_EXCEPTION_LATE = ((0, 1, 2, 3), (0.2, 0.65, 0.9, 1.0))
_EXCEPTION_LATE_SHARE = 0.8
#: Lateness of an ordinary late shipment.
_PLAIN_LATE = ((1, 2, 3), (0.62, 0.89, 1.0))
#: Days from delivery to the survey answer.
_ANSWER_DELAY = ((0, 1, 2, 3), (0.45, 0.75, 0.9, 1.0))

_DAMAGE_RATE = 0.015
_WRONG_ITEM_RATE = 0.01
_EARLY_RATE = 0.18
_IN_TRANSIT_RATE = 0.6
_INCIDENT_EXCEPTION_RATE = 0.6


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _cum(weights: Sequence[float]) -> tuple[float, ...]:
    total = float(sum(weights))
    acc = tuple(w / total for w in itertools.accumulate(weights))
    return (*acc[:-1], 1.0)


def _pick(names: Sequence[str], cum: Sequence[float], u: float) -> str:
    i = bisect_right(cum, u)
    return names[i if i < len(names) else -1]


def _nps(mu: float, sigma: float) -> float:
    """NPS of ``clamp(round(N(mu, sigma)), 0, 10)`` answers."""

    def phi(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))

    return 100.0 * ((1.0 - phi((8.5 - mu) / sigma)) - phi((6.5 - mu) / sigma))


def _mu_for_nps(target: float, sigma: float = _SCORE_SIGMA) -> float:
    """Latent mean whose answers have NPS ``target`` (bisection; NPS rises with mu)."""
    lo, hi = -10.0, 25.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if _nps(mid, sigma) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


_DAY_PREFIX: dict[int, str] = {}


def _day_str(day: int) -> str:
    s = _DAY_PREFIX.get(day)
    if s is None:
        s = date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
        _DAY_PREFIX[day] = s
    return s


_SECONDS: tuple[str, ...] = tuple(f"{i:02d}Z" for i in range(60))
_MINUTE_PREFIX: dict[int, str] = {}


def _fmt_ts(t: int) -> str:
    """Epoch seconds to ``YYYY-MM-DDTHH:MM:SSZ``."""
    minute, sec = divmod(t, _MINUTE)
    prefix = _MINUTE_PREFIX.get(minute)
    if prefix is None:
        if len(_MINUTE_PREFIX) > 500_000:
            _MINUTE_PREFIX.clear()
        day, rest = divmod(minute, 1440)
        h, m = divmod(rest, 60)
        prefix = _MINUTE_PREFIX[minute] = f"{_day_str(day)}T{h:02d}:{m:02d}:"
    return prefix + _SECONDS[sec]


def _weekday(local_day: int) -> int:
    return (local_day + _EPOCH_WEEKDAY) % 7


def _add_delivery_days(local_day: int, n: int) -> int:
    """``n`` delivery days (Monday to Saturday, the German *Werktage*) after ``local_day``."""
    d = local_day
    while n > 0:
        d += 1
        if _weekday(d) != _SUNDAY:
            n -= 1
    return d


def _next_delivery_day(local_day: int) -> int:
    """The next Monday-to-Saturday day after ``local_day``."""
    d = local_day + 1
    return d + 1 if _weekday(d) == _SUNDAY else d


def _prev_delivery_day(local_day: int) -> int:
    d = local_day - 1
    return d - 1 if _weekday(d) == _SUNDAY else d


# --------------------------------------------------------------------------------------
# Simulation state
# --------------------------------------------------------------------------------------


class _Customer:
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


class _Country:
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
        "pool",
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
        self.offset = round(profile.utc_offset_hours * _HOUR)
        self.mu = _mu_for_nps(profile.base_nps)
        self.region_names = tuple(n for n, _ in profile.regions)
        self.region_cum = _cum([w for _, w in profile.regions])
        # Small persistent regional differences in satisfaction.
        self.region_mu = {n: rng.gauss(0.0, 0.15) for n in self.region_names}
        self.lang_names = tuple(n for n, _ in profile.languages)
        self.lang_cum = _cum([w for _, w in profile.languages])
        self.channel_names = tuple(n for n, _ in profile.channels)
        self.channel_cum = _cum([w for _, w in profile.channels])
        self.carrier_names = tuple(c.name for c in profile.carriers)
        self.carrier_cum = _cum([c.weight for c in profile.carriers])
        mean_factor = sum(c.weight * c.late_factor for c in profile.carriers) / sum(
            c.weight for c in profile.carriers
        )
        self.exception_rate = profile.exception_rate
        late_from_exceptions = profile.exception_rate * _EXCEPTION_LATE_SHARE
        self.plain_late = {
            c.name: max(
                0.0,
                (profile.late_rate * c.late_factor / mean_factor - late_from_exceptions)
                / (1.0 - profile.exception_rate),
            )
            for c in profile.carriers
        }
        self.exc_reason_names = tuple(n for n, _ in profile.exception_reasons)
        self.exc_reason_cum = _cum([w for _, w in profile.exception_reasons])
        self.origins = profile.origins
        self.promise_days = profile.promise_days
        self.return_rate = profile.return_rate
        self.refund_lo, self.refund_hi = profile.refund_days
        self.pool: list[_Customer | None] = []
        self.carrier_incidents: dict[str, list[tuple[int, int, int]]] = {}
        self.app_incidents: list[tuple[int, int, float, str]] = []


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


class _Simulation:
    """Generates the events of one configuration, day by day."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        setup_rng = random.Random(f"{config.seed}:setup")
        total_weight = sum(c.weight for c in config.countries)
        self.countries = [
            _Country(i, p, total_weight, setup_rng) for i, p in enumerate(config.countries)
        ]
        by_code = {c.code: c for c in self.countries}
        for inc in config.incidents:
            country = by_code[inc.country]
            s, e = _epoch(inc.start), _epoch(inc.end)
            if isinstance(inc, CarrierDelayIncident):
                country.carrier_incidents.setdefault(inc.carrier, []).append(
                    (s, e, round(inc.extra_delay_days * _DAY))
                )
            else:
                country.app_incidents.append((s, e, inc.score_drop, inc.reason))
        for c in self.countries:
            size = max(20, round(config.orders_per_day * c.weight * config.customer_pool_days))
            c.pool = [None] * size
        self.start_ts = _epoch(config.start)
        self.end_ts = _epoch(config.end)
        self.gen_start = self.start_ts - config.warmup_days * _DAY
        self.known: list[_Customer] = []
        self.pending_profiles: dict[str, dict[str, Any]] = {}
        self.buckets: defaultdict[int, list[tuple[int, int, dict[str, Any]]]] = defaultdict(list)
        self.next_seq = itertools.count().__next__
        self.n_customers = 0
        self.n_orders = 0
        self.drift_cache: dict[tuple[int, int], float] = {}

    # -- plumbing ---------------------------------------------------------------------------
    def push(self, t: int, event: dict[str, Any]) -> None:
        if t < self.end_ts:
            self.buckets[t // _DAY].append((t, self.next_seq(), event))

    def nps_drift(self, country: int, t: int) -> float:
        """Slow day-to-day wobble of a country's satisfaction (latent units)."""
        key = (country, t // _DAY)
        v = self.drift_cache.get(key)
        if v is None:
            v = random.Random(f"{self.cfg.seed}:drift:{key[0]}:{key[1]}").gauss(0.0, 0.12)
            self.drift_cache[key] = v
        return v

    def answer_time(self, c: _Country, earliest: int, day_offset: int) -> int:
        """A plausible local time-of-day for a survey answer ``day_offset`` days later."""
        r = self.rng.random
        local_day = (earliest + c.offset) // _DAY + day_offset
        hour = bisect_right(_ANSWER_HOURS, r() * _ANSWER_HOURS[-1])
        t = local_day * _DAY - c.offset + min(hour, 23) * _HOUR + int(r() * _HOUR)
        if t <= earliest + 15 * _MINUTE:
            t = earliest + 15 * _MINUTE + int(r() * 3 * _HOUR)
        return t

    # -- customers --------------------------------------------------------------------------
    def new_customer(self, c: _Country, segment: str) -> _Customer:
        r = self.rng.random
        self.n_customers += 1
        language = _pick(c.lang_names, c.lang_cum, r())
        first, last = _NAMES.get(language, _NAMES["en"])
        cust = _Customer(
            cid=f"c{self.n_customers}",
            country=c.code,
            region=_pick(c.region_names, c.region_cum, r()),
            language=language,
            segment=segment,
            name=f"{first[int(r() * len(first))]} {last[int(r() * len(last))]}",
            opt_out=r() < self.cfg.opt_out_share,
        )
        self.known.append(cust)
        return cust

    def emit_profile(self, cust: _Customer, t: int) -> None:
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

    def existing_customer(self, c: _Country, t: int) -> _Customer:
        """A customer from the returning population, emitting the profile on first sight."""
        r = self.rng.random
        pool = c.pool
        i = int(r() * len(pool))
        cust = pool[i]
        if cust is None:
            segment = "vip" if r() < self.cfg.vip_share else "regular"
            cust = pool[i] = self.new_customer(c, segment)
            self.emit_profile(cust, max(t - 5 - int(r() * 300), (t // _DAY) * _DAY))
        return cust

    def order_customer(self, c: _Country, t: int) -> _Customer:
        r = self.rng.random
        if r() < self.cfg.new_customer_share:
            cust = self.new_customer(c, "new")
            c.pool.append(cust)
            # Sign-up shortly before the first checkout.
            self.emit_profile(cust, max(t - 30 - int(r() * 900), (t // _DAY) * _DAY))
            return cust
        cust = self.existing_customer(c, t)
        if cust.segment == "new":
            cust.segment = "regular"
            self.emit_profile(cust, t)
        return cust

    def profile_update(self, t: int) -> None:
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
            first, last = _NAMES.get(cust.language, _NAMES["en"])
            cust.name = f"{first[int(r() * len(first))]} {last[int(r() * len(last))]}"
        elif u < 0.85:
            cust.language = "en"
        else:
            c = next(x for x in self.countries if x.code == cust.country)
            cust.region = _pick(c.region_names, c.region_cum, r())
        self.emit_profile(cust, t)

    # -- feedback ---------------------------------------------------------------------------
    def feedback(
        self,
        t: int,
        c: _Country,
        cust: _Customer,
        segment: str,
        region: str,
        channel: str,
        order_id: str | None,
        touchpoint: str,
        shift: float,
        causes: list[tuple[str, float]],
    ) -> None:
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
        score = int(rng.gauss(mu, _SCORE_SIGMA) + 0.5)
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
                primary = self.weighted_choice(causes)
                reasons.append(primary)
                candidates.pop(primary, None)
            for code, weight in causes:
                if code not in reasons:
                    candidates[code] = candidates.get(code, 0.0) + weight
            while len(reasons) < n and candidates:
                code = self.weighted_choice(list(candidates.items()))
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
            key = _COMMENT_KEY.get(reasons[0], "generic") if reasons else "positive"
            event["comment"] = _COMMENTS.get(cust.language, _COMMENTS["en"])[key]
        self.push(t, event)

    def weighted_choice(self, items: Sequence[tuple[str, float]]) -> str:
        total = 0.0
        for _, w in items:
            total += w
        u = self.rng.random() * total
        for code, w in items:
            u -= w
            if u < 0.0:
                return code
        return items[-1][0]

    def support_feedback(self, t: int, c: _Country) -> None:
        r = self.rng.random
        cust = self.existing_customer(c, t)
        channel = _pick(*_SUPPORT_CHANNELS, r())
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

    # -- orders -----------------------------------------------------------------------------
    def order(self, t0: int, c: _Country) -> None:
        rng = self.rng
        r = rng.random
        cust = self.order_customer(c, t0)
        segment = cust.segment
        region = cust.region
        channel = _pick(c.channel_names, c.channel_cum, r())
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
        day0 = local0 // _DAY
        sec0 = local0 - day0 * _DAY
        if sec0 < 15 * _HOUR and _weekday(day0) != _SUNDAY:
            ship_t = t0 + 90 * _MINUTE + int(r() * 6 * _HOUR)
            ship_day = (ship_t + off) // _DAY
        else:
            ship_day = day0 + 1
            if _weekday(ship_day) == _SUNDAY:
                ship_day += 1
            ship_t = ship_day * _DAY - off + 7 * _HOUR + int(r() * 6 * _HOUR)
        bdays = c.promise_days - (segment == "vip") + (channel == "email")
        bdays = 1 if bdays < 1 else 3 if bdays > 3 else bdays
        promised_day = _add_delivery_days(ship_day, bdays)
        promised = _day_str(promised_day)

        if t0 >= start:
            ev = base.copy()
            ev["promised_date"] = promised
            push(t0, ev)

        # Carrier and what will happen on the way.
        carrier = _pick(c.carrier_names, c.carrier_cum, r())
        origin = c.origins[int(r() * len(c.origins))]
        planned_day = promised_day
        if r() < _EARLY_RATE:
            earlier = _prev_delivery_day(promised_day)
            if earlier > ship_day:
                planned_day = earlier
        tod = 9 * _HOUR + int(r() * 10.5 * _HOUR)
        planned_t = planned_day * _DAY - off + tod
        exception_reason: str | None = None
        if r() < c.exception_rate:
            exception_reason = _pick(c.exc_reason_names, c.exc_reason_cum, r())
            late = _EXCEPTION_LATE[0][bisect_right(_EXCEPTION_LATE[1], r())]
        elif r() < c.plain_late[carrier]:
            late = _PLAIN_LATE[0][bisect_right(_PLAIN_LATE[1], r())]
        else:
            late = 0
        actual_day = planned_day
        if late:
            actual_day = promised_day
            for _ in range(late):
                actual_day = _next_delivery_day(actual_day)
        actual_t = actual_day * _DAY - off + tod
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
                    exception_t = max(ship_t, s) + _HOUR + int(r() * 10 * _HOUR)
                break
        actual_day = (actual_t + off) // _DAY
        late_days = actual_day - promised_day
        ofd_t = max(actual_t - _HOUR - int(r() * 4 * _HOUR), actual_day * _DAY - off + 6 * _HOUR)
        if ofd_t <= ship_t:
            ofd_t = ship_t + (actual_t - ship_t) // 2
        planned_eta = _fmt_ts(planned_t)
        actual_eta = _fmt_ts(actual_t) if actual_t != planned_t else planned_eta

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
            if not exception_t or exception_t >= ofd_t - 30 * _MINUTE:
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
                d = _ANSWER_DELAY[0][bisect_right(_ANSWER_DELAY[1], r())]
                fch_names, fch_cum = _FEEDBACK_CHANNEL.get(channel, _FEEDBACK_CHANNEL["web"])
                self.feedback(
                    self.answer_time(c, actual_t, d),
                    c,
                    cust,
                    segment,
                    region,
                    _pick(fch_names, fch_cum, r()),
                    oid,
                    "delivery",
                    shift,
                    causes,
                )

        # Returns and refunds.
        return_rate = 0.85 if (damaged or wrong_item) else c.return_rate
        if r() >= return_rate:
            return
        reg_t = actual_t + 6 * _HOUR + int(min(rng.expovariate(1.0 / 4.0), 20.0) * _DAY)
        if reg_t >= self.end_ts:
            return
        rec_t = reg_t + int((2.0 + 4.0 * r()) * _DAY)
        refund_days = c.refund_lo + (c.refund_hi - c.refund_lo) * r()
        ref_t = rec_t + int(refund_days * _DAY)
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
            if rec_t - reg_t > 4 * _DAY:
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
            fch_names, fch_cum = _FEEDBACK_CHANNEL.get(channel, _FEEDBACK_CHANNEL["web"])
            self.feedback(
                self.answer_time(c, ref_t, int(r() * 2)),
                c,
                cust,
                segment,
                region,
                _pick(fch_names, fch_cum, r()),
                oid,
                "return",
                rshift,
                return_causes,
            )

    @staticmethod
    def snap_delivery(t: int, off: int) -> int:
        """Move a delivery time into delivery hours (08-20 local, Monday to Saturday)."""
        local = t + off
        day, sec = divmod(local, _DAY)
        if sec < 8 * _HOUR:
            sec = 8 * _HOUR + sec % (3 * _HOUR)
        elif sec >= 20 * _HOUR:
            day += 1
            sec = 8 * _HOUR + sec % (3 * _HOUR)
        if _weekday(day) == _SUNDAY:
            day += 1
        return day * _DAY + sec - off

    # -- day loop ---------------------------------------------------------------------------
    def simulate_day(self, day: int) -> None:
        rng = self.rng
        r = rng.random
        cfg = self.cfg
        day_start = day * _DAY
        lo = max(day_start, self.gen_start)
        hi = min(day_start + _DAY, self.end_ts)
        if lo >= hi:
            return
        actions: list[tuple[int, int, int]] = []
        support_per_order = cfg.response_rate * cfg.support_feedback_share
        for c in self.countries:
            volume = cfg.orders_per_day * c.weight * math.exp(rng.gauss(0.0, 0.06))
            for h in range(24):
                hour_start = day_start + h * _HOUR
                if hour_start + _HOUR <= lo or hour_start >= hi:
                    continue
                local = hour_start + c.offset
                factor = _RHYTHM[_weekday(local // _DAY)][(local % _DAY) // _HOUR]
                lam = volume * factor / 24.0
                for _ in range(_poisson(rng, lam)):
                    t = hour_start + int(r() * _HOUR)
                    if lo <= t < hi:
                        actions.append((t, 0, c.index))
                for _ in range(_poisson(rng, lam * support_per_order)):
                    t = hour_start + int(r() * _HOUR)
                    if lo <= t < hi:
                        actions.append((t, 1, c.index))
        for _ in range(_poisson(rng, cfg.orders_per_day * cfg.profile_update_rate)):
            actions.append((lo + int(r() * (hi - lo)), 2, 0))
        actions.sort()
        countries = self.countries
        for t, what, ci in actions:
            if what == 0:
                self.order(t, countries[ci])
            elif what == 1:
                self.support_feedback(t, countries[ci])
            else:
                self.profile_update(t)

    def run(self) -> Iterator[dict[str, Any]]:
        first_day = self.gen_start // _DAY
        last_day = (self.end_ts - 1) // _DAY
        start_ts = self.start_ts
        dup_rate = self.cfg.duplicate_rate
        dup_random = random.Random(f"{self.cfg.seed}:duplicates").random
        pending = self.pending_profiles
        n = 0
        for day in range(first_day, last_day + 1):
            self.simulate_day(day)
            bucket = self.buckets.pop(day, None)
            if not bucket:
                continue
            bucket.sort()
            for t, _, event in bucket:
                if t < start_ts:
                    continue
                stamp = _fmt_ts(t)
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


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0.0:
        return 0
    if lam > 40.0:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def generate_events(config: GeneratorConfig) -> Iterator[dict[str, Any]]:
    """Yield contract events (JSON-ready dicts, ts as ISO 8601 with Z) in event-time order.

    ``ts`` never decreases. Every event has a unique ``event_id`` except the
    deliberate duplicates (``config.duplicate_rate``), which follow their original
    immediately with identical content. Malformed lines (``config.invalid_rate``)
    are not events and only appear in :func:`generate_lines`. Each yielded dict is
    fresh; callers may keep or modify it.
    """
    return _Simulation(config).run()


_MALFORMED_KINDS = ("truncated", "missing", "bad_ts", "bad_value", "not_object", "garbage")


def _malformed(event: dict[str, Any], n: int, rng: random.Random) -> str:
    """A broken line derived from ``event``, as a faulty upstream might send it."""
    bad = dict(event)
    bad["event_id"] = f"x{n:09d}"
    kind = _MALFORMED_KINDS[int(rng.random() * len(_MALFORMED_KINDS))]
    if kind == "truncated":
        text = json.dumps(bad, ensure_ascii=False, separators=(",", ":"))
        return text[: max(1, len(text) // 2)]
    if kind == "missing":
        bad.pop("customer_id", None)
        bad.pop("order_id", None)
    elif kind == "bad_ts":
        bad["ts"] = "yesterday evening"
    elif kind == "bad_value":
        if bad.get("kind") == "feedback":
            bad["score"] = 11 if rng.random() < 0.5 else "ten"
        elif bad.get("kind") == "logistics":
            bad["type"] = "teleported"
        else:
            bad["contact_opt_out"] = "maybe"
    elif kind == "not_object":
        return json.dumps([bad.get("kind"), bad["event_id"]])
    else:
        return "<html><body>502 Bad Gateway</body></html>"
    return json.dumps(bad, ensure_ascii=False, separators=(",", ":"))


def generate_lines(config: GeneratorConfig) -> Iterator[dict[str, Any] | str]:
    """The stream of :func:`generate_events` plus malformed raw lines (``invalid_rate``).

    Malformed lines are strings (write them verbatim with :func:`write_jsonl`); each
    follows the event it was derived from, so parseable timestamps stay in order.
    The valid events are exactly those of :func:`generate_events` for the same config.
    """
    rate = config.invalid_rate
    rng = random.Random(f"{config.seed}:invalid")
    n = 0
    for event in generate_events(config):
        if rate and rng.random() < rate:
            n += 1
            line = _malformed(event, n, rng)
            yield event
            yield line
        else:
            yield event


def _write_lines(handle: TextIO, items: Iterable[dict[str, Any] | str]) -> int:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    count = 0
    chunk: list[str] = []
    for item in items:
        chunk.append(item if isinstance(item, str) else dumps(item))
        if len(chunk) >= 2048:
            chunk.append("")
            handle.write("\n".join(chunk))
            count += len(chunk) - 1
            chunk = []
    if chunk:
        chunk.append("")
        handle.write("\n".join(chunk))
        count += len(chunk) - 1
    return count


def write_jsonl(events: Iterable[dict[str, Any] | str], path: Path) -> int:
    """Write events as JSON Lines (gzip if ``path`` ends with ``.gz``); return lines written.

    ``str`` items are written verbatim as one line each (malformed lines).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=6, newline="\n") as gz:
            return _write_lines(gz, events)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        return _write_lines(fh, events)
