"""The engine: one batch of accepted events in, state and counters out.

Both drivers (the Faust worker and ``cxstream replay``) hand batches of decoded
events to the engine. :meth:`Engine.prepare` reads what the batch needs from the
state store in one go and folds the events in order (dropping repeated event ids,
moving orders forward, joining feedback with its order and its customer as of the
answer's time); it decides everything but writes nothing. :meth:`Engine.commit`
writes the result; it may be repeated after a failure, and the store makes the
batch count exactly once (see :mod:`cxstream.store`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from cxstream.config import Dimension, Settings
from cxstream.counters import feedback_counters, logistics_counters
from cxstream.decoding import Envelope
from cxstream.events import CustomerEvent, FeedbackEvent, LogisticsEvent
from cxstream.orders import OrderState
from cxstream.partitioning import partition_for
from cxstream.profiles import CustomerProfile
from cxstream.series import series_for_values
from cxstream.store import StateChanges, StateRequest, StateStore

__all__ = ["BatchOutcome", "Engine", "EngineOptions", "EnrichedFeedback"]


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """The part of the settings the engine's decisions depend on."""

    partitions: int = 8
    bucket_seconds: int = 900
    series: tuple[tuple[Dimension, ...], ...] = ((), ("country",))

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineOptions:
        return cls(settings.partitions, settings.bucket_seconds, settings.series)


@dataclass(frozen=True, slots=True)
class EnrichedFeedback:
    """A survey answer joined with what happened to its order (X-data + O-data)."""

    event: FeedbackEvent
    dims: dict[str, str]
    order: OrderState | None
    profile: CustomerProfile | None

    @property
    def late_days(self) -> int | None:
        return self.order.late_days(as_of=self.event.ts) if self.order else None

    @property
    def carrier(self) -> str | None:
        return self.order.carrier_as_of(self.event.ts) if self.order else None

    @property
    def exception_reasons(self) -> tuple[str, ...]:
        return tuple(self.order.exceptions) if self.order else ()


@dataclass(slots=True)
class BatchOutcome:
    """What one batch did, and the changes it still has to write."""

    changes: StateChanges = field(default_factory=StateChanges)
    accepted: int = 0
    duplicates: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    feedback: list[EnrichedFeedback] = field(default_factory=list)
    orders: dict[str, OrderState] = field(default_factory=dict)
    series: set[str] = field(default_factory=set)


class Engine:
    """Folds batches of events into the shared state."""

    def __init__(self, store: StateStore, options: EngineOptions) -> None:
        self.store = store
        self.options = options

    def _partition(self, key: str) -> int:
        return partition_for(key, self.options.partitions)

    def _request(self, batch: Sequence[Envelope], partitions: list[int]) -> StateRequest:
        request = StateRequest()
        for env, p in zip(batch, partitions, strict=True):
            event = env.event
            request.seen.setdefault((p, event.ts.date()), []).append(event.event_id)
            if isinstance(event, LogisticsEvent):
                request.orders.add((p, event.order_id))
                continue
            if isinstance(event, FeedbackEvent) and event.order_id:
                request.orders.add((p, event.order_id))
            request.customers.add((self._partition(event.customer_id), event.customer_id))
        return request

    async def process(self, batch: Sequence[Envelope]) -> BatchOutcome:
        """:meth:`prepare` then :meth:`commit`."""
        outcome = await self.prepare(batch)
        await self.commit(outcome)
        return outcome

    async def commit(self, outcome: BatchOutcome) -> None:
        """Write what :meth:`prepare` decided; safe to repeat after a failure."""
        if outcome.changes.partitions:
            await self.store.apply(outcome.changes)

    async def prepare(self, batch: Sequence[Envelope]) -> BatchOutcome:
        """Read the state the batch needs and decide its effects, writing nothing."""
        outcome = BatchOutcome()
        if not batch:
            return outcome
        partitions = [self._partition(env.event.key) for env in batch]
        snapshot = await self.store.load(self._request(batch, partitions))
        seen = snapshot.seen
        orders = {oid: OrderState.from_json(oid, raw) for oid, raw in snapshot.orders.items()}
        profiles = {
            cid: CustomerProfile.from_json(cid, raw) for cid, raw in snapshot.customers.items()
        }
        changes = outcome.changes
        dirty_orders: set[str] = set()
        dirty_profiles: set[str] = set()
        bucket_seconds = self.options.bucket_seconds
        combos = self.options.series

        for env, p in zip(batch, partitions, strict=True):
            event = env.event
            if event.event_id in seen:
                outcome.duplicates += 1
                continue
            seen.add(event.event_id)
            part = changes.partition(p)
            part.seen.setdefault(event.ts.date(), []).append(event.event_id)
            outcome.accepted += 1
            outcome.by_kind[event.kind] += 1
            counters: list[tuple[str, int]]
            if isinstance(event, LogisticsEvent):
                order = orders.get(event.order_id)
                if order is None:
                    order = orders[event.order_id] = OrderState(event.order_id)
                first = order.apply(event)
                dirty_orders.add(event.order_id)
                outcome.orders[event.order_id] = order
                counters = logistics_counters(event, order, first)
                series = series_for_values(
                    combos,
                    event.country,
                    event.region or order.region,
                    order.channel or event.channel,
                    order.segment or event.segment or "unknown",
                    order.carrier,
                )
            elif isinstance(event, FeedbackEvent):
                # The join is "as of" the answer's time, so it does not depend on how far
                # the logistics and customer streams had been read when it was processed.
                order = orders.get(event.order_id) if event.order_id else None
                if order is not None and not order.known_at(event.ts):
                    order = None
                profile = profiles.get(event.customer_id)
                segment = event.segment
                if segment == "unknown":
                    segment = (
                        (profile.segment_as_of(event.ts) if profile else None)
                        or (order.segment if order else None)
                        or "unknown"
                    )
                region = event.region or (order.region if order else None)
                carrier = order.carrier_as_of(event.ts) if order else None
                counters = feedback_counters(event, order)
                series = series_for_values(
                    combos, event.country, region, event.channel, segment, carrier
                )
                dims = {"country": event.country, "channel": event.channel, "segment": segment}
                if region:
                    dims["region"] = region
                if carrier:
                    dims["carrier"] = carrier
                outcome.feedback.append(EnrichedFeedback(event, dims, order, profile))
            else:
                assert isinstance(event, CustomerEvent)
                profile = profiles.get(event.customer_id)
                if profile is None:
                    profile = CustomerProfile(event.customer_id)
                if profile.apply(event):
                    profiles[event.customer_id] = profile
                    dirty_profiles.add(event.customer_id)
                continue
            if not counters:
                continue
            bucket = int(event.ts.timestamp()) // bucket_seconds
            for sid, sdims in series:
                target = part.contributions.get(sid)
                if target is None:
                    target = part.contributions[sid] = {}
                    if sid not in changes.series_dims:
                        changes.series_dims[sid] = sdims
                        outcome.series.add(sid)
                deltas = target.get(bucket)
                if deltas is None:
                    deltas = target[bucket] = {}
                for name, delta in counters:
                    deltas[name] = deltas.get(name, 0) + delta

        for oid in dirty_orders:
            changes.partition(self._partition(oid)).orders[oid] = orders[oid].to_json()
        for cid in dirty_profiles:
            changes.partition(self._partition(cid)).customers[cid] = profiles[cid].to_json()
        return outcome
