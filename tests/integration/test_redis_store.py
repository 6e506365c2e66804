"""The Redis state store counts every batch exactly once, whatever fails and whoever writes.

Runs :class:`Engine` on :class:`RedisStateStore` against a real Redis (each test under
its own key prefix) with a realistic generated stream, and compares the per-segment
figures with a clean run on :class:`MemoryStateStore`. Failures are injected where the
Redis store's journal matters: after the partitions were committed (event ids seen,
order states, profiles, journal entry) but before any counter was added, or after only
some of the series were updated. Then:

* the same writer retries the commit;
* a new writer (a restart) recovers the journal and goes on, redoing the crashed batch
  with a different cut and overlapping events that were already applied;
* the first writer takes its partitions back after another writer crashed;
* two replays into the same store count the events of both, and replaying a file again
  counts nothing more.

A repeated commit after one that succeeded is also checked. Every test runs against a
single Redis and against a Redis Cluster of three primaries (the key layout puts each
atomic script's keys in one slot).
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from cxstream.checkpoints import owner_of
from cxstream.config import Settings
from cxstream.decoding import Envelope, EventDecoder, FileOrigin
from cxstream.engine import Engine, EngineOptions
from cxstream.figures import collect_figures
from cxstream.generator import GeneratorConfig, generate_events, write_jsonl
from cxstream.late_events import LateEvent
from cxstream.memory_store import MemoryStateStore
from cxstream.redis_store import RedisStateStore
from cxstream.replay import Replayer, ReplayResult
from cxstream.store import Counters, StateStore

__all__: list[str] = []

pytestmark = pytest.mark.integration

PARTITIONS = 4
GENERATOR = GeneratorConfig(
    days=3,
    orders_per_day=100,
    warmup_days=4,
    response_rate=0.8,
    profile_update_rate=0.05,
    duplicate_rate=0.02,
    seed=3,
)


class CountersLost(ConnectionError):
    pass


class CrashAfterCommit(RedisStateStore):
    """On request, the next attempt to add counters fails once the partitions were
    committed: before any series (``"before_counters"``) or after half of them
    (``"after_some_series"``, as when the connection drops in the middle of the
    pipeline)."""

    mode = "before_counters"
    crashes_left = 0

    async def _apply_series(
        self,
        groups: dict[str, list[tuple[int, int, Counters]]],
        dims: dict[str, dict[str, str]],
        late: Mapping[int, Mapping[str, str]] | None = None,
    ) -> None:
        if not self.crashes_left:
            await super()._apply_series(groups, dims, late)
            return
        self.crashes_left -= 1
        if self.mode == "after_some_series":
            some = dict(sorted(groups.items())[: len(groups) // 2])
            await super()._apply_series(some, dims)
        raise CountersLost("connection lost after the commit")


@pytest.fixture(scope="module")
def payloads() -> list[dict[str, Any]]:
    """A few days of a generated shop, in event-time order."""
    return list(generate_events(GENERATOR))


@pytest.fixture(scope="module")
def events(payloads: list[dict[str, Any]]) -> list[Envelope]:
    """The generated events, decoded."""
    decoder = EventDecoder()
    out: list[Envelope] = []
    for line, payload in enumerate(payloads, start=1):
        decoded = decoder.decode(
            json.dumps(payload).encode(), FileOrigin("shop.jsonl", line), "shop", line
        )
        assert isinstance(decoded, Envelope), decoded
        out.append(decoded)
    return out


@pytest.fixture(params=["single-node", "cluster"])
def settings(request: pytest.FixtureRequest, redis_url: str) -> Settings:
    """Settings for the shared test Redis, or a Redis Cluster of three primaries, under a
    key prefix no other test uses."""
    cluster = request.param == "cluster"
    return Settings(
        redis_url=request.getfixturevalue("redis_cluster_url") if cluster else redis_url,
        redis_cluster=cluster,
        key_prefix=f"t{uuid.uuid4().hex[:12]}",
        partitions=PARTITIONS,
    )


@pytest.fixture
async def opened(settings: Settings) -> AsyncIterator[list[RedisStateStore]]:
    """Stores a test opens (append them); all are closed at the end."""
    stores: list[RedisStateStore] = []
    yield stores
    for store in stores:
        await store.close()


def open_store(
    settings: Settings, opened: list[RedisStateStore], *, crashes: str | None = None
) -> RedisStateStore:
    store: RedisStateStore
    if crashes is None:
        store = RedisStateStore.from_settings(settings)
    else:
        store = CrashAfterCommit.from_settings(settings)
        assert isinstance(store, CrashAfterCommit)
        store.mode = crashes
    opened.append(store)
    return store


def cut(events: Sequence[Envelope], *bounds: int) -> list[list[Envelope]]:
    """``events`` cut at ``bounds`` (from the start to the end)."""
    edges = [0, *bounds, len(events)]
    return [list(events[a:b]) for a, b in itertools.pairwise(edges) if a < b]


async def figures_of(store: StateStore, settings: Settings) -> list[dict[str, Any]]:
    return await collect_figures(store, settings.bucket_seconds)


async def clean_figures(events: Sequence[Envelope], settings: Settings) -> list[dict[str, Any]]:
    store = MemoryStateStore()
    engine = Engine(store, EngineOptions.from_settings(settings))
    for batch in cut(events, *range(300, len(events), 300)):
        await engine.process(batch)
    return await figures_of(store, settings)


async def journal_sizes(store: RedisStateStore) -> list[int]:
    return [int(await store.client.hlen(store.keys.journal(p))) for p in range(PARTITIONS)]


async def crash_after_commit(engine: Engine, batch: Sequence[Envelope]) -> None:
    """Process ``batch`` on a :class:`CrashAfterCommit` store that crashes once; check that
    the commit did happen (the events are seen, the journal holds the batch)."""
    store = engine.store
    assert isinstance(store, CrashAfterCommit)
    store.crashes_left = 1
    with pytest.raises(CountersLost):
        await engine.process(batch)
    again = await engine.prepare(batch)
    assert again.accepted == 0
    assert sum(await journal_sizes(store)) > 0


def test_the_stream_exercises_joins_and_profile_changes(events: list[Envelope]) -> None:
    kinds = {env.event.kind for env in events}
    assert kinds == {"feedback", "logistics", "customer"}
    answers = [env for env in events if env.event.kind == "feedback"]
    assert len(answers) > 100
    assert len({env.event.event_id for env in events}) < len(events)  # redeliveries


@pytest.mark.parametrize("crashes", ["before_counters", "after_some_series"])
@pytest.mark.parametrize("completed_before", [False, True])
async def test_retrying_the_commit_after_a_crash_equals_clean_run(
    events: list[Envelope],
    settings: Settings,
    opened: list[RedisStateStore],
    crashes: str,
    completed_before: bool,
) -> None:
    store = open_store(settings, opened, crashes=crashes)
    engine = Engine(store, EngineOptions.from_settings(settings))
    first, crashed, rest = cut(events, 900, 1800)
    if completed_before:
        await engine.process(first)
    else:
        crashed = first + crashed
    outcome = await engine.prepare(crashed)
    assert isinstance(store, CrashAfterCommit)
    store.crashes_left = 1
    with pytest.raises(CountersLost):
        await engine.commit(outcome)
    await engine.commit(outcome)
    await engine.process(rest)
    assert await figures_of(store, settings) == await clean_figures(events, settings)
    assert max(await journal_sizes(store)) <= 1  # applied entries are cleaned up


@pytest.mark.parametrize("crashes", ["before_counters", "after_some_series"])
async def test_new_writer_recovers_and_redoes_with_another_cut_equals_clean_run(
    events: list[Envelope], settings: Settings, opened: list[RedisStateStore], crashes: str
) -> None:
    options = EngineOptions.from_settings(settings)
    crashing = Engine(open_store(settings, opened, crashes=crashes), options)
    await crashing.process(events[:600])
    await crashing.process(events[600:1000])
    await crash_after_commit(crashing, events[1000:1800])

    restarted = Engine(open_store(settings, opened), options)
    assert await restarted.store.recover(range(PARTITIONS)) > 0
    # It resumes a little before the crashed batch, and cuts the batches elsewhere.
    for batch in (events[950:1300], events[1300:2100], events[2100:]):
        await restarted.process(batch)
    expected = await clean_figures(events, settings)
    assert await figures_of(restarted.store, settings) == expected
    await restarted.store.recover(range(PARTITIONS))  # what is left was applied already
    assert await figures_of(restarted.store, settings) == expected


async def test_writer_taking_its_partitions_back_after_another_crashed_equals_clean_run(
    events: list[Envelope], settings: Settings, opened: list[RedisStateStore]
) -> None:
    """Writer A applies the first events and loses the partitions; writer B commits the
    next batch and crashes before its counters; A gets the partitions back, recovers and
    resumes where it stopped."""
    options = EngineOptions.from_settings(settings)
    writer_a = Engine(open_store(settings, opened), options)
    await writer_a.process(events[:800])
    writer_b = Engine(open_store(settings, opened, crashes="before_counters"), options)
    await crash_after_commit(writer_b, events[800:1500])
    assert await writer_a.store.recover(range(PARTITIONS)) > 0
    await writer_a.process(events[800:1200])
    await writer_a.process(events[1200:])
    assert await figures_of(writer_a.store, settings) == await clean_figures(events, settings)


async def test_repeating_a_commit_that_succeeded_counts_nothing_more(
    events: list[Envelope], settings: Settings, opened: list[RedisStateStore]
) -> None:
    store = open_store(settings, opened)
    engine = Engine(store, EngineOptions.from_settings(settings))
    await engine.process(events[:1000])
    outcome = await engine.prepare(events[1000:])
    await engine.commit(outcome)
    await engine.commit(outcome)
    assert await figures_of(store, settings) == await clean_figures(events, settings)


async def test_recovery_without_a_crash_changes_nothing(
    events: list[Envelope], settings: Settings, opened: list[RedisStateStore]
) -> None:
    store = open_store(settings, opened)
    engine = Engine(store, EngineOptions.from_settings(settings))
    for batch in cut(events, 700, 1400, 2100):
        await engine.process(batch)
    expected = await clean_figures(events, settings)
    assert await figures_of(store, settings) == expected
    for _ in range(2):
        await Engine(open_store(settings, opened), engine.options).store.recover(range(PARTITIONS))
        assert await figures_of(store, settings) == expected


async def test_series_whose_groups_were_applied_in_part_adds_only_the_new_ones(
    settings: Settings, opened: list[RedisStateStore]
) -> None:
    """As when a recovery replays journal entries a series had partly applied already."""
    store = open_store(settings, opened)
    dims: dict[str, dict[str, str]] = {"all": {}}
    old = (0, 1, {100: {"responses": 1, "promoters": 1}})
    new = [(0, 2, {100: {"responses": 2}}), (1, 1, {101: {"placed": 1, "delay_days": 0}})]
    await store._apply_series({"all": [old]}, dims)
    for _ in range(2):  # again: nothing more
        await store._apply_series({"all": [old, *new]}, dims)
    assert await store.read_buckets(["all"]) == {
        "all": {100: {"responses": 3.0, "promoters": 1.0}, 101: {"placed": 1.0}}
    }
    assert await store.read_buckets(["all", "none"], 101, 101) == {
        "all": {101: {"placed": 1.0}},
        "none": {},
    }
    assert await store.series() == {"all": {}}


async def test_series_written_by_another_store_are_listed(
    settings: Settings, opened: list[RedisStateStore]
) -> None:
    """Each worker lists the series every worker wrote, also after it listed them once."""
    mine, theirs = open_store(settings, opened), open_store(settings, opened)
    counted = (0, 1, {100: {"responses": 1}})
    await mine._apply_series({"all": [counted]}, {"all": {}})
    assert await mine.series() == {"all": {}}
    await theirs._apply_series({"country=DE": [counted]}, {"country=DE": {"country": "DE"}})
    assert await mine.series() == {"all": {}, "country=DE": {"country": "DE"}}
    listed = await mine.series()
    listed.clear()  # a caller's copy
    assert await mine.series() == {"all": {}, "country=DE": {"country": "DE"}}


def write_days(payloads: list[dict[str, Any]], path: Path, first_day: int, days: int) -> Path:
    start = GENERATOR.start + timedelta(days=first_day)
    end = start + timedelta(days=days)
    write_jsonl(
        (p for p in payloads if start <= datetime.fromisoformat(p["ts"]) < end),
        path,
    )
    return path


async def test_two_replays_into_the_same_store_count_both(
    payloads: list[dict[str, Any]],
    settings: Settings,
    opened: list[RedisStateStore],
    tmp_path: Path,
) -> None:
    first_days = write_days(payloads, tmp_path / "first.jsonl", 0, 2)
    last_day = write_days(payloads, tmp_path / "last.jsonl", 2, 1)
    options = EngineOptions.from_settings(settings)
    decoder = EventDecoder()
    runs: list[ReplayResult] = []
    store = open_store(settings, opened)
    for files in ([first_days], [last_day], [first_days, last_day]):
        engine = Engine(open_store(settings, opened), options)  # a new run each time
        replayer = Replayer(engine, decoder, batch_size=500)
        runs.append(await replayer.run(files, tmp_path / f"out{len(runs)}"))
    first, second, again = runs
    assert first.accepted > 0
    assert second.accepted > 0
    assert (again.accepted, again.duplicates) == (0, again.events_read)

    memory = MemoryStateStore()
    reference = Replayer(Engine(memory, options), decoder, batch_size=700)
    expected = await reference.run([first_days, last_day], tmp_path / "reference")
    assert first.accepted + second.accepted == expected.accepted
    assert await figures_of(store, settings) == await figures_of(memory, settings)


async def test_state_spreads_over_every_primary_of_a_cluster(
    redis_cluster_url: str, events: list[Envelope], opened: list[RedisStateStore]
) -> None:
    settings = Settings(
        redis_url=redis_cluster_url,
        redis_cluster=True,
        key_prefix=f"t{uuid.uuid4().hex[:12]}",
        partitions=8,
    )
    store = open_store(settings, opened)
    engine = Engine(store, EngineOptions.from_settings(settings))
    for batch in cut(events, *range(500, len(events), 500)):
        await engine.process(batch)
    assert await figures_of(store, settings) == await clean_figures(events, settings)
    client = store.client
    assert isinstance(client, RedisCluster)
    per_node = [int(await client.dbsize(target_nodes=node)) for node in client.get_primaries()]
    assert len(per_node) == 3
    assert all(n > 0 for n in per_node), per_node


async def test_scripts_lost_by_redis_are_loaded_again(
    events: list[Envelope], redis_url: str
) -> None:
    """A Redis that restarted without its scripts (or a promoted replica) answers
    NOSCRIPT: the batch is sent again after a reload and counts once."""
    settings = Settings(
        redis_url=redis_url, key_prefix=f"t{uuid.uuid4().hex[:12]}", partitions=PARTITIONS
    )
    store = RedisStateStore.from_settings(settings)
    try:
        engine = Engine(store, EngineOptions.from_settings(settings))
        batches = cut(events, *range(500, len(events), 500))
        for n, batch in enumerate(batches):
            if n % 2:
                await store.client.script_flush()
            await engine.process(batch)
        assert await figures_of(store, settings) == await clean_figures(events, settings)
    finally:
        await store.close()


async def test_late_events_leave_notes_with_the_owner_of_their_series(
    events: list[Envelope], settings: Settings, opened: list[RedisStateStore]
) -> None:
    """An event older than the allowed lateness behind the stream is counted and noted for
    the detection owner of its series, once however often its batch is written."""
    store = open_store(settings, opened)
    engine = Engine(store, EngineOptions.from_settings(settings))
    for batch in cut(events, *range(500, len(events), 500)):
        await engine.process(batch)
    assert not await store.late_events(range(PARTITIONS))
    first = next(e.event for e in events if e.event.kind == "feedback")
    payload = {
        **json.loads(first.model_dump_json()),
        "event_id": "late-answer",
        "ts": (events[-1].event.ts - timedelta(days=1)).isoformat(),
    }
    late = EventDecoder().decode(
        json.dumps(payload).encode(), FileOrigin("late.jsonl", 1), "shop", len(events) + 1
    )
    assert isinstance(late, Envelope)
    outcome = await engine.prepare([late])
    assert outcome.late == 1
    await engine.commit(outcome)
    await store.apply(outcome.changes)  # written again (a retry): still one note, one count
    owner = owner_of({"country": first.country}, PARTITIONS)
    notes = await store.late_events(range(PARTITIONS))
    # Its country's owner, and the owner of the whole shop's series (no country).
    assert set(notes) == {owner, owner_of({}, PARTITIONS)}
    assert all(set(by_id) == {"late-answer"} for by_id in notes.values())
    assert (
        f"country={first.country}"
        in LateEvent.from_json("late-answer", notes[owner]["late-answer"]).series
    )
    assert await figures_of(store, settings) == await clean_figures([*events, late], settings)
    for noted in notes:
        await store.forget_late(noted, ["late-answer"])
    assert not await store.late_events(range(PARTITIONS))
