"""Country and carrier profiles of the simulated shop, and the default six-country market."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["CarrierProfile", "CountryProfile", "Weighted", "default_countries"]

#: ``(name, weight)`` pairs; weights are relative and need not sum to 1.
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
