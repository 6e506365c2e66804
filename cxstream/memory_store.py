"""An in-process state store with the same semantics as the Redis one.

For unit tests of the engine and for offline runs that need no shared state. It
keeps everything in dictionaries and forgets it when the process ends. Its
``apply`` is all-or-nothing, so it never has journal entries to recover.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from cxstream.store import StateChanges, StateRequest, StateSnapshot

__all__ = ["MemoryStateStore"]


class MemoryStateStore:
    """State store backed by dictionaries (not shared between processes)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.orders: dict[str, str] = {}
        self.customers: dict[str, str] = {}
        self.buckets: dict[str, dict[int, dict[str, float]]] = defaultdict(dict)
        self.dims: dict[str, dict[str, str]] = {}
        self.applied_tokens: set[str] = set()
        self.late: dict[int, dict[str, str]] = defaultdict(dict)

    async def load(self, request: StateRequest) -> StateSnapshot:
        snapshot = StateSnapshot()
        for ids in request.seen.values():
            snapshot.seen.update(i for i in ids if i in self.seen)
        for _, oid in request.orders:
            if oid in self.orders:
                snapshot.orders[oid] = self.orders[oid]
        for _, cid in request.customers:
            if cid in self.customers:
                snapshot.customers[cid] = self.customers[cid]
        return snapshot

    async def apply(self, changes: StateChanges) -> None:
        for owner, notes in changes.late.items():
            self.late[owner].update(notes)  # by event id: the same note again changes nothing
        for part in changes.partitions.values():
            if part.token in self.applied_tokens:
                continue  # the same commit again: no further effect
            self.applied_tokens.add(part.token)
            for ids in part.seen.values():
                self.seen.update(ids)
            self.orders.update(part.orders)
            self.customers.update(part.customers)
            for series, counters in part.contributions.items():
                self.dims.setdefault(series, changes.series_dims[series])
                buckets = self.buckets[series]
                for bucket, deltas in counters.items():
                    values = buckets.setdefault(bucket, {})
                    for name, delta in deltas.items():
                        values[name] = values.get(name, 0.0) + delta

    async def recover(self, partitions: Iterable[int]) -> int:
        return 0

    async def late_events(self, owners: Sequence[int]) -> dict[int, dict[str, str]]:
        return {o: dict(self.late[o]) for o in owners if self.late.get(o)}

    async def forget_late(self, owner: int, event_ids: Sequence[str]) -> None:
        notes = self.late.get(owner)
        for event_id in event_ids:
            if notes is not None:
                notes.pop(event_id, None)

    async def series(self) -> dict[str, dict[str, str]]:
        return dict(self.dims)

    async def read_buckets(
        self, series: Sequence[str], first_bucket: int | None = None, last_bucket: int | None = None
    ) -> dict[str, dict[int, dict[str, float]]]:
        low = first_bucket if first_bucket is not None else -(2**62)
        high = last_bucket if last_bucket is not None else 2**62
        out: dict[str, dict[int, dict[str, float]]] = {}
        for sid in series:
            buckets = self.buckets.get(sid, {})
            if high - low < len(buckets):  # a short range of a long series: look it up
                out[sid] = {b: dict(buckets[b]) for b in range(low, high + 1) if b in buckets}
            else:
                out[sid] = {b: dict(c) for b, c in sorted(buckets.items()) if low <= b <= high}
        return out
