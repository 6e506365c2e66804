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

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cxstream.checkpoints import owner_of
from cxstream.config import Dimension, Settings
from cxstream.counters import feedback_counters, logistics_counters
from cxstream.decoding import Envelope
from cxstream.events import CustomerEvent, FeedbackEvent, LogisticsEvent
from cxstream.late_events import LateEvent, LateFilter
from cxstream.orders import OrderState
from cxstream.partitioning import partition_for
from cxstream.profiles import CustomerProfile
from cxstream.series import series_for_values
from cxstream.store import PartitionChanges, StateChanges, StateRequest, StateStore

__all__ = ["CACHE_SIZE", "BatchOutcome", "Engine", "EngineOptions", "EnrichedFeedback"]


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """The part of the settings the engine's decisions depend on."""

    partitions: int = 8
    bucket_seconds: int = 900
    series: tuple[tuple[Dimension, ...], ...] = ((), ("country",))
    #: The detection windows' allowed lateness: events older than that (behind the
    #: latest event time seen) leave a late-event note.
    lateness_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineOptions:
        return cls(
            settings.partitions,
            settings.bucket_seconds,
            settings.series,
            settings.allowed_lateness_s,
        )


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
    #: The event time of the last event of the batch of each order in ``orders``.
    order_times: dict[str, datetime] = field(default_factory=dict)
    #: Orders that more than one event of the batch touched: the state after each of
    #: those events but the last (:meth:`OrderState.as_tuple`), with that event's time.
    earlier_states: dict[str, list[tuple[datetime, tuple[Any, ...]]]] = field(default_factory=dict)
    series: set[str] = field(default_factory=set)
    #: The latest event time of the batch per input stream (epoch seconds).
    latest: dict[str, float] = field(default_factory=dict)
    #: How many events left a late-event note.
    late: int = 0

    def order_steps(self, order_id: str) -> Iterator[tuple[datetime, OrderState]]:
        """The states ``order_id`` went through in this batch, in the order its events were
        folded, each with the time of the event that led to it; the last is the state in
        :attr:`orders`. A decision taken on these is the same whether the events came in
        one batch or in many."""
        for at, values in self.earlier_states.get(order_id, ()):
            yield at, OrderState.from_tuple(values)
        yield self.order_times[order_id], self.orders[order_id]


#: How many order states and profiles an engine keeps parsed between batches, and how
#: many keys' partitions it remembers.
CACHE_SIZE = 100_000


class _ParsedCache:
    """States parsed from the JSON a store returned, by id and that exact JSON.

    An entry is used only when the store returns the very string it was made from (the
    JSON written last); anything else is parsed again. Entries are kept as tuples of
    immutable values (``as_tuple``), so they are never shared with what the engine
    hands out and cost the garbage collector nothing. Bounded: past ``size`` entries the
    older half is dropped.
    """

    __slots__ = ("entries", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: dict[str, tuple[str, tuple[Any, ...]]] = {}

    def get(self, key: str, raw: str) -> tuple[Any, ...] | None:
        entry = self.entries.get(key)
        if entry is not None and entry[0] == raw:
            return entry[1]
        return None

    def put(self, key: str, raw: str, value: tuple[Any, ...]) -> None:
        entries = self.entries
        entries.pop(key, None)
        entries[key] = (raw, value)
        if len(entries) > self.size:
            self.entries = dict(list(entries.items())[len(entries) // 2 :])


class Engine:
    """Folds batches of events into the shared state."""

    def __init__(
        self, store: StateStore, options: EngineOptions, *, cache_size: int = CACHE_SIZE
    ) -> None:
        self.store = store
        self.options = options
        self._cache_size = cache_size
        self._partitions: dict[str, int] = {}
        self._orders: _ParsedCache = _ParsedCache(cache_size)
        self._profiles: _ParsedCache = _ParsedCache(cache_size)
        self._late_filter = LateFilter(options.bucket_seconds, options.lateness_s)
        #: The latest event time of the batches committed so far, per input stream and
        #: over all of them (epoch seconds).
        self.latest_by_stream: dict[str, float] = {}
        self.latest = -math.inf
        self._watermark = -math.inf

    def observe_watermark(self, seconds: float) -> None:
        """Learn of the stream's watermark (after a restart or a rebalance this engine
        has not seen the input streams it now reads), so that late events are
        recognised from their first batch."""
        if seconds > self._watermark:
            self._watermark = seconds

    def _late_limit(self, stream: str) -> int:
        """Buckets below this may hold late events of ``stream``: the watermark is never
        ahead of the stream's own progress (for a stream this engine has not read yet:
        of the latest event time seen on any, or the last watermark it learnt of)."""
        latest = self.latest_by_stream.get(stream)
        if latest is None:
            latest = self.latest
        return self._late_filter.limit(max(latest, self._watermark))

    def _partition(self, key: str) -> int:
        p = self._partitions.get(key)
        if p is None:
            if len(self._partitions) >= self._cache_size:
                self._partitions.clear()
            p = self._partitions[key] = partition_for(key, self.options.partitions)
        return p

    def _request(self, batch: Sequence[Envelope], partitions: list[int]) -> StateRequest:
        request = StateRequest()
        seen = request.seen
        orders = request.orders
        customers = request.customers
        partition = self._partition
        for env, p in zip(batch, partitions, strict=True):
            event = env.event
            group = (p, event.ts.date())
            ids = seen.get(group)
            if ids is None:
                seen[group] = [event.event_id]
            else:
                ids.append(event.event_id)
            if type(event) is LogisticsEvent:
                orders.add((p, event.order_id))
                continue
            if type(event) is FeedbackEvent and event.order_id:
                orders.add((p, event.order_id))
            customers.add((partition(event.customer_id), event.customer_id))
        return request

    def _load_orders(self, raw_orders: dict[str, str]) -> dict[str, OrderState]:
        cache = self._orders
        orders: dict[str, OrderState] = {}
        for oid, raw in raw_orders.items():
            parsed = cache.get(oid, raw)
            orders[oid] = (
                OrderState.from_tuple(parsed) if parsed else OrderState.from_json(oid, raw)
            )
        return orders

    def _load_profiles(self, raw_profiles: dict[str, str]) -> dict[str, CustomerProfile]:
        cache = self._profiles
        profiles: dict[str, CustomerProfile] = {}
        for cid, raw in raw_profiles.items():
            parsed = cache.get(cid, raw)
            profiles[cid] = (
                CustomerProfile.from_tuple(parsed)
                if parsed
                else CustomerProfile.from_json(cid, raw)
            )
        return profiles

    def _note_late(
        self,
        notes: dict[int, dict[str, str]],
        event_id: str,
        ts: float,
        bucket: int,
        series: Sequence[tuple[str, dict[str, str]]],
        counters: Sequence[tuple[str, int]],
    ) -> None:
        """Leave a note of a possibly late event with the owner of each of its series."""
        by_owner: dict[int, list[str]] = {}
        for sid, sdims in series:
            by_owner.setdefault(owner_of(sdims, self.options.partitions), []).append(sid)
        summed: dict[str, float] = {}
        for name, delta in counters:
            summed[name] = summed.get(name, 0) + delta
        for owner, sids in by_owner.items():
            note = LateEvent(event_id, ts, bucket, tuple(sids), summed)
            notes.setdefault(owner, {})[event_id] = note.to_json()

    async def process(self, batch: Sequence[Envelope]) -> BatchOutcome:
        """:meth:`prepare` then :meth:`commit`."""
        outcome = await self.prepare(batch)
        await self.commit(outcome)
        return outcome

    async def commit(self, outcome: BatchOutcome) -> None:
        """Write what :meth:`prepare` decided; safe to repeat after a failure."""
        if outcome.changes.partitions:
            await self.store.apply(outcome.changes)
        latest_by_stream = self.latest_by_stream
        for stream, seconds in outcome.latest.items():
            if seconds > latest_by_stream.get(stream, -math.inf):
                latest_by_stream[stream] = seconds
            if seconds > self.latest:
                self.latest = seconds

    async def prepare(self, batch: Sequence[Envelope]) -> BatchOutcome:
        """Read the state the batch needs and decide its effects, writing nothing."""
        outcome = BatchOutcome()
        if not batch:
            return outcome
        partition = self._partition
        partitions = [partition(env.event.key) for env in batch]
        snapshot = await self.store.load(self._request(batch, partitions))
        seen = snapshot.seen
        orders = self._load_orders(snapshot.orders)
        profiles = self._load_profiles(snapshot.customers)
        changes = outcome.changes
        parts = changes.partitions
        series_dims = changes.series_dims
        outcome_series = outcome.series
        outcome_orders = outcome.orders
        order_times = outcome.order_times
        earlier_states = outcome.earlier_states
        feedback_out = outcome.feedback
        dirty_orders: set[str] = set()
        dirty_profiles: set[str] = set()
        bucket_seconds = self.options.bucket_seconds
        combos = self.options.series
        accepted = duplicates = n_feedback = n_logistics = n_customer = 0
        late_notes = changes.late
        latest = outcome.latest
        late_limits: dict[str, int] = {}

        for env, p in zip(batch, partitions, strict=True):
            event = env.event
            event_id = event.event_id
            if event_id in seen:
                duplicates += 1
                continue
            seen.add(event_id)
            part = parts.get(p)
            if part is None:
                part = parts[p] = PartitionChanges()
            ts = event.ts
            day = ts.date()
            ids = part.seen.get(day)
            if ids is None:
                part.seen[day] = [event_id]
            else:
                ids.append(event_id)
            accepted += 1
            stream = env.stream
            seconds = ts.timestamp()
            if seconds > latest.get(stream, -math.inf):
                latest[stream] = seconds
            counters: list[tuple[str, int]]
            if type(event) is LogisticsEvent:
                n_logistics += 1
                order_id = event.order_id
                order = orders.get(order_id)
                if order is None:
                    order = orders[order_id] = OrderState(order_id)
                before = order_times.get(order_id)
                if before is not None:
                    steps = earlier_states.get(order_id)
                    if steps is None:
                        steps = earlier_states[order_id] = []
                    steps.append((before, order.as_tuple()))
                first = order.apply(event)
                order_times[order_id] = ts
                dirty_orders.add(order_id)
                outcome_orders[order_id] = order
                counters = logistics_counters(event, order, first)
                if not counters:
                    continue
                series = series_for_values(
                    combos,
                    event.country,
                    event.region or order.region,
                    order.channel or event.channel,
                    order.segment or event.segment or "unknown",
                    order.carrier,
                )
            elif type(event) is FeedbackEvent:
                n_feedback += 1
                # The join is "as of" the answer's time, so it does not depend on how far
                # the logistics and customer streams had been read when it was processed.
                order = orders.get(event.order_id) if event.order_id else None
                if order is not None and not order.known_at(ts):
                    order = None
                profile = profiles.get(event.customer_id)
                segment = event.segment
                if segment == "unknown":
                    segment = (
                        (profile.segment_as_of(ts) if profile else None)
                        or (order.segment if order else None)
                        or "unknown"
                    )
                region = event.region or (order.region if order else None)
                carrier = order.carrier_as_of(ts) if order else None
                counters = feedback_counters(event, order)
                series = series_for_values(
                    combos, event.country, region, event.channel, segment, carrier
                )
                dims = {"country": event.country, "channel": event.channel, "segment": segment}
                if region:
                    dims["region"] = region
                if carrier:
                    dims["carrier"] = carrier
                feedback_out.append(EnrichedFeedback(event, dims, order, profile))
            else:
                assert isinstance(event, CustomerEvent)
                n_customer += 1
                profile = profiles.get(event.customer_id)
                if profile is None:
                    profile = CustomerProfile(event.customer_id)
                if profile.apply(event):
                    profiles[event.customer_id] = profile
                    dirty_profiles.add(event.customer_id)
                continue
            if not counters:
                continue
            bucket = int(seconds) // bucket_seconds
            contributions = part.contributions
            for sid, sdims in series:
                target = contributions.get(sid)
                if target is None:
                    target = contributions[sid] = {}
                    if sid not in series_dims:
                        series_dims[sid] = sdims
                        outcome_series.add(sid)
                deltas = target.get(bucket)
                if deltas is None:
                    deltas = target[bucket] = {}
                for name, delta in counters:
                    deltas[name] = deltas.get(name, 0) + delta
            limit = late_limits.get(stream)
            if limit is None:
                limit = late_limits[stream] = self._late_limit(stream)
            if bucket < limit:
                outcome.late += 1
                self._note_late(late_notes, event_id, seconds, bucket, series, counters)

        outcome.accepted = accepted
        outcome.duplicates = duplicates
        by_kind = outcome.by_kind
        for kind, n in (
            ("feedback", n_feedback),
            ("logistics", n_logistics),
            ("customer", n_customer),
        ):
            if n:
                by_kind[kind] = n
        cache = self._orders
        for oid in dirty_orders:
            order = orders[oid]
            raw = order.to_json()
            changes.partition(partition(oid)).orders[oid] = raw
            cache.put(oid, raw, order.as_tuple())
        profile_cache = self._profiles
        for cid in dirty_profiles:
            profile = profiles[cid]
            raw = profile.to_json()
            changes.partition(partition(cid)).customers[cid] = raw
            profile_cache.put(cid, raw, profile.as_tuple())
        return outcome
