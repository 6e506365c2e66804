"""Redis implementation of the state store: batched, exactly-once, Cluster-ready.

One batch costs three round trips whatever its size: one pipeline to load, one
pipeline of per-partition commit scripts (event ids seen, order states, profiles and
a journal entry with the batch's counter contributions, atomically, under a fresh
batch number), and one pipeline of per-series scripts that add the contributions to
the event-time buckets unless that series already applied that batch number of that
partition. Every step can be repeated: a commit is identified by a token, a series
keeps a watermark per partition. A crash between the last two steps leaves a journal
entry that :meth:`RedisStateStore.recover` applies. Journal entries and tokens of
applied batches are deleted with the next commit of their partition.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from pydantic_core import to_json
from redis.asyncio.cluster import RedisCluster

from cxstream.config import Settings
from cxstream.keys import KeyLayout
from cxstream.redis_client import connect_redis
from cxstream.redis_scripts import ScriptPipeline
from cxstream.state_scripts import (
    APPLY_SERIES,
    APPLY_SERIES_GROUPS,
    COMMIT_PARTITION,
    READ_BUCKETS,
)
from cxstream.store import Counters, StateChanges, StateRequest, StateSnapshot

__all__ = ["RedisStateStore"]


def _journal_payload(contributions: dict[str, Counters], dims: dict[str, dict[str, str]]) -> bytes:
    return to_json({"series": contributions, "dims": {sid: dims[sid] for sid in contributions}})


class RedisStateStore:
    """Engine state in Redis (single node, Sentinel-fronted or Cluster)."""

    def __init__(
        self,
        client: aioredis.Redis | RedisCluster,
        keys: KeyLayout,
        *,
        bucket_seconds: int,
        retention_s: float,
        dedup_ttl_s: float,
        order_ttl_s: float,
        profile_ttl_s: float,
    ) -> None:
        self.client = client
        self.keys = keys
        self.bucket_seconds = bucket_seconds
        self.retention_s = retention_s
        self.dedup_ttl_s = dedup_ttl_s
        self.order_ttl_s = order_ttl_s
        self.profile_ttl_s = profile_ttl_s
        self.round_trips = 0
        self._runner = ScriptPipeline(
            client,
            {
                "commit": COMMIT_PARTITION,
                "series": APPLY_SERIES,
                "series_groups": APPLY_SERIES_GROUPS,
                "read": READ_BUCKETS,
            },
        )
        self._known_series: set[str] = set()
        #: The series index as last read (see :meth:`series`).
        self._series_listed: dict[str, dict[str, str]] = {}
        self._done: dict[int, list[tuple[int, str]]] = defaultdict(list)

    @classmethod
    def from_settings(
        cls, settings: Settings, client: aioredis.Redis | RedisCluster | None = None
    ) -> RedisStateStore:
        return cls(
            client if client is not None else connect_redis(settings),
            KeyLayout(settings.key_prefix),
            bucket_seconds=settings.bucket_seconds,
            retention_s=settings.retention_days * 86400,
            dedup_ttl_s=settings.dedup_ttl_hours * 3600,
            order_ttl_s=settings.order_ttl_days * 86400,
            profile_ttl_s=settings.profile_ttl_days * 86400,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    # -- load -------------------------------------------------------------------------------
    async def load(self, request: StateRequest) -> StateSnapshot:
        snapshot = StateSnapshot()
        seen_groups = list(request.seen.items())
        by_partition: dict[int, list[tuple[bool, str]]] = defaultdict(list)
        for partition, order_id in request.orders:
            by_partition[partition].append((True, order_id))
        for partition, customer_id in request.customers:
            by_partition[partition].append((False, customer_id))
        if not seen_groups and not by_partition:
            return snapshot
        pipe = self.client.pipeline(transaction=False)
        for (partition, day), ids in seen_groups:
            pipe.smismember(self.keys.seen(partition, day), ids)
        groups = list(by_partition.items())
        for partition, items in groups:
            # One slot per partition, so a single MGET is fine on a cluster too (redis-py
            # refuses ``mget`` in cluster pipelines, not the command).
            pipe.execute_command(
                "MGET",
                *(
                    self.keys.order(partition, i) if is_order else self.keys.customer(partition, i)
                    for is_order, i in items
                ),
            )
        results = await pipe.execute()
        self.round_trips += 1
        for (_, ids), flags in zip(seen_groups, results, strict=False):
            snapshot.seen.update(i for i, flag in zip(ids, flags, strict=True) if flag)
        for (_, items), values in zip(groups, results[len(seen_groups) :], strict=True):
            for (is_order, ident), value in zip(items, values, strict=True):
                if value is not None:
                    (snapshot.orders if is_order else snapshot.customers)[ident] = value
        return snapshot

    # -- apply ------------------------------------------------------------------------------
    async def apply(self, changes: StateChanges) -> None:
        """Commit each partition, then add the counters; safe to call again after a failure
        with the same ``changes``."""
        numbers = await self._commit(changes)
        groups: dict[str, list[tuple[int, int, Counters]]] = defaultdict(list)
        for p, part in changes.partitions.items():
            for series, counters in part.contributions.items():
                groups[series].append((p, numbers[p], counters))
        if groups:
            await self._apply_series(groups, changes.series_dims, changes.late)
        for p, part in changes.partitions.items():
            self._done[p].append((numbers[p], part.token))

    async def _scripts(self) -> dict[str, str]:
        """SHA1 of each script, loaded once (and again after Redis lost them)."""
        return await self._runner.shas()

    async def _execute(self, fill: Callable[[Any, dict[str, str]], None]) -> list[Any]:
        """Run one pipeline built by ``fill(pipe, shas)`` (see :class:`ScriptPipeline`)."""
        results = await self._runner.execute(fill)
        self.round_trips += 1
        return results

    async def _commit(self, changes: StateChanges) -> dict[int, int]:
        calls: list[list[Any]] = []
        order: list[int] = []
        dedup_ttl = int(self.dedup_ttl_s)
        order_ttl = int(self.order_ttl_s)
        profile_ttl = int(self.profile_ttl_s)
        keys = self.keys
        for p, part in changes.partitions.items():
            payload = (
                _journal_payload(part.contributions, changes.series_dims)
                if part.contributions
                else b""
            )
            seen = part.seen
            orders = part.orders
            customers = part.customers
            key_list = [keys.batch_counter(p), keys.journal(p), keys.commit_tokens(p)]
            key_list.extend(keys.seen(p, day) for day in seen)
            key_list.extend(keys.order(p, order_id) for order_id in orders)
            key_list.extend(keys.customer(p, customer_id) for customer_id in customers)
            call: list[Any] = [len(key_list), *key_list]
            call += (
                part.token,
                dedup_ttl,
                payload,
                to_json(self._done.get(p, [])),
                order_ttl,
                profile_ttl,
                len(orders),
                len(seen),
            )
            call.extend(len(ids) for ids in seen.values())
            for ids in seen.values():
                call.extend(ids)
            call.extend(orders.values())
            call.extend(customers.values())
            calls.append(call)
            order.append(p)

        def fill(pipe: Any, shas: dict[str, str]) -> None:
            sha = shas["commit"]
            for call in calls:
                pipe.execute_command("EVALSHA", sha, *call)

        results = await self._execute(fill)
        for p in order:
            self._done.pop(p, None)
        return {p: int(n) for p, n in zip(order, results, strict=True)}

    async def _apply_series(
        self,
        groups: dict[str, list[tuple[int, int, Counters]]],
        dims: dict[str, dict[str, str]],
        late: Mapping[int, Mapping[str, str]] | None = None,
    ) -> None:
        ttl = int(self.retention_s)
        keep = max(1, int(self.retention_s // self.bucket_seconds))
        keys = self.keys
        calls: list[list[Any]] = []
        names: list[str] = []
        new_series: list[str] = []
        for series, series_groups in groups.items():
            summed: Counters
            if len(series_groups) == 1:
                summed = series_groups[0][2]
            else:
                summed = {}
                for _, _, counters in series_groups:
                    for bucket, deltas in counters.items():
                        target = summed.get(bucket)
                        if target is None:
                            summed[bucket] = dict(deltas)
                            continue
                        for name, delta in deltas.items():
                            target[name] = target.get(name, 0) + delta
            call: list[Any] = [2 + len(summed), keys.watermarks(series), keys.buckets(series)]
            call.extend(keys.aggregate(series, b) for b in summed)
            call += (ttl, keep, len(series_groups))
            for p, n, _ in series_groups:
                call += (p, n)
            for bucket, deltas in summed.items():
                nonzero = [(name, delta) for name, delta in deltas.items() if delta]
                call += (bucket, len(nonzero))
                for name, delta in nonzero:
                    call += (name, delta)
            calls.append(call)
            names.append(series)
            if series not in self._known_series:
                new_series.append(series)

        def fill(pipe: Any, shas: dict[str, str]) -> None:
            sha = shas["series"]
            for call in calls:
                pipe.execute_command("EVALSHA", sha, *call)
            for series in new_series:
                pipe.hsetnx(self.keys.series_index(), series, json.dumps(dims[series]))
            # After the counters (same connection, in order): a stage that reads a note
            # finds its event counted. Keyed by event id, so a repeated apply adds nothing.
            for owner, notes in (late or {}).items():
                if notes:
                    pipe.hset(self.keys.late(owner), mapping=dict(notes))
                    pipe.expire(self.keys.late(owner), ttl)

        results = await self._execute(fill)
        partly = [series for series, n in zip(names, results, strict=False) if n == -1]
        if partly:
            await self._apply_series_groups({series: groups[series] for series in partly})
        self._known_series.update(groups)

    async def _apply_series_groups(
        self, groups: dict[str, list[tuple[int, int, Counters]]]
    ) -> None:
        """Add each group that is new to its series on its own (for series whose groups
        were applied in part)."""
        ttl = int(self.retention_s)
        keep = max(1, int(self.retention_s // self.bucket_seconds))
        calls: list[tuple[list[str], list[Any]]] = []
        for series, series_groups in groups.items():
            buckets = list({b: None for _, _, counters in series_groups for b in counters})
            keys = [self.keys.watermarks(series), self.keys.buckets(series)]
            keys.extend(self.keys.aggregate(series, b) for b in buckets)
            calls.append((keys, [ttl, keep, to_json(buckets), to_json(series_groups)]))

        def fill(pipe: Any, shas: dict[str, str]) -> None:
            for keys, args in calls:
                pipe.execute_command("EVALSHA", shas["series_groups"], len(keys), *keys, *args)

        await self._execute(fill)

    async def recover(self, partitions: Iterable[int]) -> int:
        """Apply the journal entries of ``partitions`` left by an interrupted writer."""
        wanted = sorted(set(partitions))
        if not wanted:
            return 0
        pipe = self.client.pipeline(transaction=False)
        for p in wanted:
            pipe.hgetall(self.keys.journal(p))
            pipe.hgetall(self.keys.commit_tokens(p))
        results = await pipe.execute()
        self.round_trips += 1
        groups: dict[str, list[tuple[int, int, Counters]]] = defaultdict(list)
        dims: dict[str, dict[str, str]] = {}
        cleanup: dict[int, list[tuple[int, str]]] = {}
        applied = 0
        for i, p in enumerate(wanted):
            journal: dict[str, str] = results[2 * i]
            tokens: dict[str, str] = results[2 * i + 1]
            token_of = {int(n): t for t, n in tokens.items()}
            for n in sorted(int(k) for k in journal):
                entry = json.loads(journal[str(n)])
                for sid, counters in entry["series"].items():
                    groups[sid].append((p, n, {int(b): d for b, d in counters.items()}))
                dims.update(entry["dims"])
                cleanup.setdefault(p, []).append((n, token_of.get(n, "")))
                applied += 1
        if groups:
            await self._apply_series(groups, dims)
        for p, done in cleanup.items():
            self._done[p].extend(done)
        return applied

    async def late_events(self, owners: Sequence[int]) -> dict[int, dict[str, str]]:
        if not owners:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for owner in owners:
            pipe.hgetall(self.keys.late(owner))
        results: list[dict[str, str]] = await pipe.execute()
        self.round_trips += 1
        return {owner: raw for owner, raw in zip(owners, results, strict=True) if raw}

    async def forget_late(self, owner: int, event_ids: Sequence[str]) -> None:
        if event_ids:
            await self.client.hdel(self.keys.late(owner), *event_ids)
            self.round_trips += 1

    # -- read -------------------------------------------------------------------------------
    async def series(self) -> dict[str, dict[str, str]]:
        # The index only grows: its length says whether it must be read again.
        count = await self.client.hlen(self.keys.series_index())
        self.round_trips += 1
        if count != len(self._series_listed):
            raw: dict[str, str] = await self.client.hgetall(self.keys.series_index())  # type: ignore[assignment]
            self.round_trips += 1
            listed = self._series_listed
            self._series_listed = {
                sid: listed[sid] if sid in listed else json.loads(dims) for sid, dims in raw.items()
            }
        return dict(self._series_listed)

    async def read_buckets(
        self, series: Sequence[str], first_bucket: int | None = None, last_bucket: int | None = None
    ) -> dict[str, dict[int, dict[str, float]]]:
        low = "-inf" if first_bucket is None else first_bucket
        high = "+inf" if last_bucket is None else last_bucket
        pipe = self.client.pipeline(transaction=False)
        for sid in series:
            pipe.zrangebyscore(self.keys.buckets(sid), low, high)
        bucket_lists: list[list[str]] = await pipe.execute()
        self.round_trips += 1
        out: dict[str, dict[int, dict[str, float]]] = {sid: {} for sid in series}
        wanted = [
            (sid, [int(b) for b in buckets])
            for sid, buckets in zip(series, bucket_lists, strict=True)
            if buckets
        ]
        if not wanted:
            return out

        def fill(pipe: Any, shas: dict[str, str]) -> None:
            # One script per series (its keys share a slot) returns all its buckets.
            for sid, buckets in wanted:
                keys = [self.keys.aggregate(sid, b) for b in buckets]
                pipe.execute_command("EVALSHA", shas["read"], len(keys), *keys)

        values: list[list[list[str]]] = await self._execute(fill)
        for (sid, buckets), per_bucket in zip(wanted, values, strict=True):
            target = out[sid]
            for bucket, flat in zip(buckets, per_bucket, strict=True):
                if flat:
                    it = iter(flat)
                    target[bucket] = {k: float(v) for k, v in zip(it, it, strict=True)}
        return out
