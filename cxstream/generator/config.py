"""Configuration of the sample-stream generator: the simulated shop and its event window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from cxstream.generator.calendar import to_utc
from cxstream.generator.incidents import CarrierDelayIncident, Incident
from cxstream.generator.profiles import CountryProfile, default_countries

__all__ = ["GeneratorConfig"]


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
        return to_utc(value)

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
