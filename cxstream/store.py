"""The state-store contract the engine is written against, and its data shapes.

A batch is processed in two steps: :meth:`StateStore.load` fetches what the batch
needs (which event ids were seen, order states, customer profiles) and
:meth:`StateStore.apply` writes the result.

``apply`` makes a batch count exactly once, however it is cut and whatever fails:
for each state partition it first commits, atomically, the event ids as seen, the
new order states and profiles, and a journal entry holding the batch's counter
contributions under a fresh batch number; only then are the contributions added to
the per-series buckets, each series remembering per partition the last batch
number it applied. A crash after the commit leaves a journal entry that
:meth:`StateStore.recover` replays (and a repeated ``apply`` finishes); a crash before it
leaves nothing, and the events are simply processed again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

__all__ = [
    "Counters",
    "PartitionChanges",
    "StateChanges",
    "StateRequest",
    "StateSnapshot",
    "StateStore",
]

#: Counter deltas of one series: ``bucket -> counter -> delta``.
Counters = dict[int, dict[str, int]]


@dataclass(slots=True)
class StateRequest:
    """What one batch needs to read."""

    seen: dict[tuple[int, date], list[str]] = field(default_factory=dict)
    orders: set[tuple[int, str]] = field(default_factory=set)
    customers: set[tuple[int, str]] = field(default_factory=set)


@dataclass(slots=True)
class StateSnapshot:
    """What the store holds for a :class:`StateRequest` (orders and profiles as JSON)."""

    seen: set[str] = field(default_factory=set)
    orders: dict[str, str] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class PartitionChanges:
    """What one batch writes into one state partition.

    ``token`` identifies this commit so that repeating it has no further effect.
    """

    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    seen: dict[date, list[str]] = field(default_factory=dict)
    orders: dict[str, str] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)
    contributions: dict[str, Counters] = field(default_factory=dict)

    def counters(self, series: str) -> Counters:
        target = self.contributions.get(series)
        if target is None:
            target = self.contributions[series] = {}
        return target

    def __bool__(self) -> bool:
        return bool(self.seen or self.orders or self.customers or self.contributions)


@dataclass(slots=True)
class StateChanges:
    """What one batch writes, per state partition."""

    partitions: dict[int, PartitionChanges] = field(default_factory=dict)
    series_dims: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Notes of possibly late events (:mod:`cxstream.late_events`), per owner partition
    #: of their series: event id to the note's JSON. Written with the counters.
    late: dict[int, dict[str, str]] = field(default_factory=dict)

    def partition(self, p: int) -> PartitionChanges:
        target = self.partitions.get(p)
        if target is None:
            target = self.partitions[p] = PartitionChanges()
        return target


class StateStore(Protocol):
    """Shared state of the engine (Redis in production)."""

    async def load(self, request: StateRequest) -> StateSnapshot: ...

    async def apply(self, changes: StateChanges) -> None: ...

    async def recover(self, partitions: Iterable[int]) -> int:
        """Apply journal entries that a crashed or interrupted writer of these partitions
        committed but did not finish; returns how many were applied."""
        ...

    async def series(self) -> dict[str, dict[str, str]]:
        """Every series seen so far, with its dimensions."""
        ...

    async def late_events(self, owners: Sequence[int]) -> dict[int, dict[str, str]]:
        """The notes of possibly late events of these owner partitions, by event id
        (owners without notes are left out)."""
        ...

    async def forget_late(self, owner: int, event_ids: Sequence[str]) -> None:
        """Drop these notes (the detection stage has dealt with them)."""
        ...

    async def read_buckets(
        self, series: Sequence[str], first_bucket: int | None = None, last_bucket: int | None = None
    ) -> dict[str, dict[int, dict[str, float]]]:
        """Counters per bucket for each series, optionally limited to a bucket range."""
        ...
