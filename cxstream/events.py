"""Typed input events, exactly as the event contract (EVENTS.md) defines them.

Three kinds arrive on three topics: ``feedback`` (X-data, survey answers),
``logistics`` (O-data, what happened to an order) and ``customer`` (CRM profile,
latest wins). Unknown fields are ignored so that producers can add fields
without breaking us; every timestamp must carry an offset.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    TypeAdapter,
)

__all__ = [
    "LOGISTICS_TYPES",
    "YEARS",
    "CustomerEvent",
    "Event",
    "EventKind",
    "FeedbackEvent",
    "LogisticsEvent",
    "LogisticsType",
    "NpsClass",
    "event_adapter",
    "nps_class",
]

EventKind = Literal["feedback", "logistics", "customer"]
NpsClass = Literal["promoter", "passive", "detractor"]
LogisticsType = Literal[
    "order_placed",
    "shipped",
    "in_transit",
    "delivery_exception",
    "out_for_delivery",
    "delivered",
    "return_registered",
    "return_received",
    "refund_issued",
]
LOGISTICS_TYPES: tuple[str, ...] = LogisticsType.__args__  # type: ignore[attr-defined]


_TIMEZONES: dict[timedelta | None, tzinfo] = {}


#: Event times and dates must lie in these years (both included): earlier or later ones
#: come from a broken clock (the Unix epoch, year 9999), and would move the watermark
#: decades away or overflow date arithmetic.
YEARS = (1980, 2199)


def _plausible_year(value: date) -> None:
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise ValueError(f"year {value.year} is outside the accepted {YEARS[0]}-{YEARS[1]}")


def _standard_offset(value: datetime) -> datetime:
    """The same time with its offset as a :class:`datetime.timezone`: the same instant and
    offset, and much cheaper to compare and convert than the validator's own tzinfo type."""
    _plausible_year(value)
    offset = value.utcoffset()
    tz = _TIMEZONES.get(offset)
    if tz is None:
        tz = _TIMEZONES[offset] = timezone(offset) if offset else UTC
    return value.replace(tzinfo=tz)


def _checked_date(value: date) -> date:
    _plausible_year(value)
    return value


#: A time that carries an offset, as a ``datetime`` whose ``tzinfo`` is a ``timezone``.
Timestamp = Annotated[AwareDatetime, AfterValidator(_standard_offset)]
#: A calendar date in the accepted years.
EventDate = Annotated[date, AfterValidator(_checked_date)]
Identifier = Annotated[str, Field(min_length=1, max_length=200)]
# Trimmed before the length check, so a blank label or region is rejected.
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64)
]
# Both patterns admit no whitespace and either case, so changing the case in the string
# validator itself (after the pattern check) gives what trimming and changing it after would.
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True)]
Region = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=64)
]
ReasonCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")]
Language = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$", to_lower=True)
]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    event_id: Identifier
    ts: Timestamp

    @property
    def key(self) -> str:
        """The Kafka message key of this event: its order id if it has one, else its customer."""
        raise NotImplementedError


class FeedbackEvent(_Event):
    """An answer to the post-order survey."""

    kind: Literal["feedback"]
    customer_id: Identifier
    order_id: Identifier | None = None
    score: Annotated[StrictInt, Field(ge=0, le=10)]
    reasons: Annotated[tuple[ReasonCode, ...], Field(max_length=32)] = ()
    effort: Annotated[StrictInt, Field(ge=1, le=7)] | None = None
    channel: Label
    country: CountryCode
    region: Region | None = None
    segment: Label = "unknown"
    touchpoint: Label | None = None
    comment: Annotated[str, Field(max_length=8192)] | None = None
    language: Language | None = None

    @property
    def key(self) -> str:
        """The order id if the answer is about an order, else the customer id."""
        return self.order_id or self.customer_id

    @property
    def nps_class(self) -> NpsClass:
        return nps_class(self.score)


class LogisticsEvent(_Event):
    """Something that happened to an order, from placement to refund."""

    kind: Literal["logistics"]
    order_id: Identifier
    customer_id: Identifier
    type: LogisticsType
    country: CountryCode
    region: Region | None = None
    carrier: Label | None = None
    origin: Annotated[str, Field(max_length=64)] | None = None
    promised_date: EventDate | None = None
    eta: Timestamp | None = None
    channel: Label | None = None
    segment: Label | None = None
    reason: Label | None = None
    #: Optional (an extension of the contract): the order's value in its currency, sent
    #: with ``order_placed``; VIP task rules with ``min_order_value`` use it.
    order_value: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None

    @property
    def key(self) -> str:
        """The order id."""
        return self.order_id


class CustomerEvent(_Event):
    """A CRM profile update; the newest ``ts`` wins."""

    kind: Literal["customer"]
    customer_id: Identifier
    email: Annotated[str, Field(max_length=320)] | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    language: Language | None = None
    segment: Label | None = None
    country: CountryCode | None = None
    contact_opt_out: StrictBool | None = None

    @property
    def key(self) -> str:
        """The customer id."""
        return self.customer_id


Event = Annotated[FeedbackEvent | LogisticsEvent | CustomerEvent, Field(discriminator="kind")]

event_adapter: TypeAdapter[FeedbackEvent | LogisticsEvent | CustomerEvent] = TypeAdapter(Event)


def nps_class(score: int) -> NpsClass:
    """Classify an NPS answer: 9-10 promoter, 7-8 passive, 0-6 detractor.

    >>> nps_class(9), nps_class(7), nps_class(6)
    ('promoter', 'passive', 'detractor')
    """
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"
