"""Per-order state built from logistics events, moving only forward.

The state answers the questions later stages ask: was this order late, is it
going to be late, which carrier has it, what went wrong on the way. A late or
repeated event never moves an order back: a ``shipped`` after ``delivered``
leaves it delivered, and each milestone keeps the time it first happened.

The carrier and the promised date can change while an order is on its way, so both
keep a short history of ``(time, value)`` changes (:mod:`cxstream.history`) and
are answered "as of" a time: an answer given before a carrier handover or a new
promise is judged by what was known when it was given, whatever was read first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from pydantic_core import from_json, to_json

from cxstream.events import LogisticsEvent
from cxstream.history import (
    History,
    dump_history,
    is_plain,
    load_history,
    parse_dt,
    record_change,
    value_as_of,
)

__all__ = ["STAGES", "OrderState"]

#: Milestones in the order they happen; an order's stage never decreases.
STAGES: dict[str, int] = {
    "order_placed": 1,
    "shipped": 2,
    "in_transit": 3,
    "delivery_exception": 3,
    "out_for_delivery": 4,
    "delivered": 5,
    "return_registered": 6,
    "return_received": 7,
    "refund_issued": 8,
}

_MILESTONE_FIELDS = {
    "order_placed": "placed_at",
    "shipped": "shipped_at",
    "delivered": "delivered_at",
    "return_registered": "return_registered_at",
    "return_received": "return_received_at",
    "refund_issued": "refunded_at",
}


_TIME_FIELDS = (
    "first_seen_at",
    "carrier_at",
    "promised_at",
    "eta",
    "eta_at",
    "placed_at",
    "shipped_at",
    "delivered_at",
    "return_registered_at",
    "return_received_at",
    "refunded_at",
)
_parse_date = lru_cache(maxsize=4096)(date.fromisoformat)


@dataclass(slots=True)
class OrderState:
    """What is known about one order (the O-data side of the join)."""

    order_id: str
    customer_id: str | None = None
    country: str | None = None
    region: str | None = None
    channel: str | None = None
    segment: str | None = None
    carrier: str | None = None
    first_seen_at: datetime | None = None
    carrier_at: datetime | None = None
    stage: int = 0
    promised_date: date | None = None
    promised_at: datetime | None = None
    eta: datetime | None = None
    eta_at: datetime | None = None
    placed_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    return_registered_at: datetime | None = None
    return_received_at: datetime | None = None
    refunded_at: datetime | None = None
    exceptions: list[str] = field(default_factory=list)
    predicted_late_flagged: bool = False
    #: Carrier changes; ``carrier`` is the newest value, ``carrier_at`` the oldest time.
    carriers: History[str] = field(default_factory=list)
    #: Promised date changes; ``promised_date`` and ``promised_at`` are the newest entry.
    promises: History[date] = field(default_factory=list)
    #: The order's value, when an event carried one (the first value wins).
    value: float | None = None

    # -- persistence ------------------------------------------------------------------------
    def _plain_carriers(self) -> History[str]:
        """The carrier history that ``carrier`` and ``carrier_at`` alone stand for."""
        if self.carrier is None or self.carrier_at is None:
            return []
        return [(self.carrier_at, self.carrier)]

    def _plain_promises(self) -> History[date]:
        """The promise history that ``promised_date`` and ``promised_at`` alone stand for."""
        if self.promised_date is None or self.promised_at is None:
            return []
        return [(self.promised_at, self.promised_date)]

    def to_json(self) -> str:
        """Compact JSON (times in ISO 8601 with their offset; histories only when they hold
        more than the current value)."""
        # Field by field in a fixed order: the text fields, the times (serialised by
        # pydantic-core as ISO 8601 with their offset), then the rest.
        out: dict[str, object] = {}
        if self.customer_id is not None:
            out["customer_id"] = self.customer_id
        if self.country is not None:
            out["country"] = self.country
        if self.region is not None:
            out["region"] = self.region
        if self.channel is not None:
            out["channel"] = self.channel
        if self.segment is not None:
            out["segment"] = self.segment
        if self.carrier is not None:
            out["carrier"] = self.carrier
        if self.first_seen_at is not None:
            out["first_seen_at"] = self.first_seen_at
        if self.carrier_at is not None:
            out["carrier_at"] = self.carrier_at
        if self.promised_at is not None:
            out["promised_at"] = self.promised_at
        if self.eta is not None:
            out["eta"] = self.eta
        if self.eta_at is not None:
            out["eta_at"] = self.eta_at
        if self.placed_at is not None:
            out["placed_at"] = self.placed_at
        if self.shipped_at is not None:
            out["shipped_at"] = self.shipped_at
        if self.delivered_at is not None:
            out["delivered_at"] = self.delivered_at
        if self.return_registered_at is not None:
            out["return_registered_at"] = self.return_registered_at
        if self.return_received_at is not None:
            out["return_received_at"] = self.return_received_at
        if self.refunded_at is not None:
            out["refunded_at"] = self.refunded_at
        if self.stage:
            out["stage"] = self.stage
        if self.promised_date is not None:
            out["promised_date"] = self.promised_date
        if self.exceptions:
            out["exceptions"] = self.exceptions
        if self.predicted_late_flagged:
            out["predicted_late_flagged"] = True
        if not is_plain(self.carriers, self.carrier_at, self.carrier):
            out["carriers"] = dump_history(self.carriers)
        if not is_plain(self.promises, self.promised_at, self.promised_date):
            out["promises"] = dump_history(self.promises, date.isoformat)
        if self.value is not None:
            out["value"] = self.value
        return to_json(out).decode()

    @classmethod
    def from_json(cls, order_id: str, raw: str) -> OrderState:
        data: dict[str, Any] = from_json(raw)
        get = data.get
        state = cls(order_id, get("customer_id"), get("country"), get("region"), get("channel"))
        state.segment = get("segment")
        state.carrier = get("carrier")
        for name in _TIME_FIELDS:
            value = get(name)
            if value is not None:
                setattr(state, name, parse_dt(value))
        state.stage = get("stage", 0)
        promised = get("promised_date")
        if promised is not None:
            state.promised_date = _parse_date(promised)
        exceptions = get("exceptions")
        if exceptions:
            state.exceptions = list(exceptions)
        state.predicted_late_flagged = bool(get("predicted_late_flagged", False))
        carriers = get("carriers")
        state.carriers = (
            load_history(carriers, str) if carriers is not None else state._plain_carriers()
        )
        promises = get("promises")
        state.promises = (
            load_history(promises, _parse_date) if promises is not None else state._plain_promises()
        )
        value = get("value")
        if value is not None:
            state.value = float(value)
        return state

    def as_tuple(self) -> tuple[Any, ...]:
        """Every field as one tuple of immutable values (lists as tuples): a compact,
        independent copy that :meth:`from_tuple` turns back into an equal state."""
        return (
            self.order_id,
            self.customer_id,
            self.country,
            self.region,
            self.channel,
            self.segment,
            self.carrier,
            self.first_seen_at,
            self.carrier_at,
            self.stage,
            self.promised_date,
            self.promised_at,
            self.eta,
            self.eta_at,
            self.placed_at,
            self.shipped_at,
            self.delivered_at,
            self.return_registered_at,
            self.return_received_at,
            self.refunded_at,
            tuple(self.exceptions),
            self.predicted_late_flagged,
            tuple(self.carriers),
            tuple(self.promises),
            self.value,
        )

    @classmethod
    def from_tuple(cls, values: tuple[Any, ...]) -> OrderState:
        """The inverse of :meth:`as_tuple` (a new state whose lists are its own)."""
        state = cls(*values)
        state.exceptions = list(state.exceptions)
        state.carriers = list(state.carriers)
        state.promises = list(state.promises)
        return state

    # -- transitions ------------------------------------------------------------------------
    def apply(self, event: LogisticsEvent) -> bool:
        """Fold one logistics event into the state, never moving it back.

        Returns whether the event's milestone happened for the first time (a repeated or
        out-of-order ``delivered`` returns False).
        """
        ts = event.ts
        self.customer_id = self.customer_id or event.customer_id
        self.country = self.country or event.country
        for name in ("region", "channel", "segment"):
            value = getattr(event, name)
            if value and not getattr(self, name):
                setattr(self, name, value)
        if self.value is None and event.order_value is not None:
            self.value = event.order_value
        if self.first_seen_at is None or ts < self.first_seen_at:
            self.first_seen_at = ts
        # The common cases inline: the first value, and a later one repeating the value
        # in force (which changes nothing).
        carrier = event.carrier
        if carrier:
            carriers = self.carriers
            if not carriers:
                carriers.append((ts, carrier))
                self.carrier_at, self.carrier = ts, carrier
            elif (carriers[-1][1] != carrier or ts < carriers[-1][0]) and record_change(
                carriers, ts, carrier
            ):
                self.carrier_at = carriers[0][0]
                self.carrier = carriers[-1][1]
        promised = event.promised_date
        if promised:
            promises = self.promises
            if not promises:
                promises.append((ts, promised))
                self.promised_at, self.promised_date = ts, promised
            elif (promises[-1][1] != promised or ts < promises[-1][0]) and record_change(
                promises, ts, promised
            ):
                self.promised_at, self.promised_date = promises[-1]
        if event.eta and (self.eta_at is None or ts >= self.eta_at):
            self.eta = event.eta
            self.eta_at = ts
        first = True
        milestone = _MILESTONE_FIELDS.get(event.type)
        if milestone is not None:
            current: datetime | None = getattr(self, milestone)
            first = current is None
            if current is None or ts < current:
                setattr(self, milestone, ts)
        if event.type == "delivery_exception":
            self.exceptions.append(event.reason or "unspecified")
            del self.exceptions[:-8]  # bounded history
        self.stage = max(self.stage, STAGES[event.type])
        return first

    # -- questions --------------------------------------------------------------------------
    @property
    def delivered(self) -> bool:
        return self.delivered_at is not None

    def late_days(self, as_of: datetime | None = None) -> int | None:
        """Days past the promised date: at delivery if delivered (by ``as_of``), else as of
        ``as_of`` for an order still on its way; ``None`` if nothing was promised (by
        ``as_of``).

        The promise is the one known at ``as_of`` (the current one without ``as_of``).
        Negative or zero means on time.
        """
        promised = self.promised_date if as_of is None else self.promised_as_of(as_of)
        if promised is None:
            return None
        if self.delivered_at is not None and (as_of is None or self.delivered_at <= as_of):
            return (self.delivered_at.date() - promised).days
        if as_of is None:
            return None
        return (as_of.date() - promised).days

    def known_at(self, as_of: datetime) -> bool:
        """Whether any event of this order had happened by ``as_of``."""
        return self.first_seen_at is not None and self.first_seen_at <= as_of

    def carrier_as_of(self, as_of: datetime) -> str | None:
        """The carrier known at ``as_of`` (``None`` if none was known yet)."""
        return value_as_of(self.carriers, as_of)

    def promised_as_of(self, as_of: datetime) -> date | None:
        """The promised date known at ``as_of`` (``None`` if nothing was promised yet)."""
        return value_as_of(self.promises, as_of) if self.promises else self.promised_date

    def was_late(self, as_of: datetime | None = None) -> bool:
        days = self.late_days(as_of)
        return days is not None and days > 0

    def predicted_late(self) -> bool:
        """Not delivered yet and the current eta is after the promised date."""
        return (
            self.delivered_at is None
            and self.promised_date is not None
            and self.eta is not None
            and self.eta.date() > self.promised_date
        )
