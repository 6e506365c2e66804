"""The Faust worker on a real broker and Redis gives the figures replay computes.

Each test generates a realistic stream, produces it to uniquely named topics on the
test broker, runs real ``cxstream worker`` processes and compares the per-segment
counters they wrote to Redis with those an independent replay (in-process store)
computes from the same file. Failures are injected for real: Redis frozen for 10 s,
a worker killed with SIGKILL, a second worker joining the group.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from cxstream.checkpoints import MemoryCheckpointStore, RedisCheckpointStore
from cxstream.config import Settings
from cxstream.decoding import EventDecoder
from cxstream.detection_setup import detection_stage
from cxstream.embedded import EmbeddedRedis
from cxstream.engine import Engine, EngineOptions
from cxstream.figures import collect_figures
from cxstream.generator import GeneratorConfig, generate_lines, write_jsonl
from cxstream.memory_store import MemoryStateStore
from cxstream.producing import produce_files
from cxstream.redis_store import RedisStateStore
from cxstream.replay import Replayer
from cxstream.worker_process import WorkerProcess
from tests.integration.topics import read_json_values
from tests.integration.worker_settings import worker_test_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _settings(kafka: str, redis_url: str) -> Settings:
    return worker_test_settings(kafka, redis_url)


def _stream(tmp_path: Path, *, days: int = 1, invalid_rate: float = 0.0, seed: int = 11) -> Path:
    path = tmp_path / "events.jsonl"
    config = GeneratorConfig(days=days, seed=seed, orders_per_day=2500, invalid_rate=invalid_rate)
    write_jsonl(generate_lines(config), path)
    return path


async def _replay_figures(
    path: Path, settings: Settings, out: Path, checkpoints: MemoryCheckpointStore | None = None
) -> tuple[list[Any], int]:
    store = MemoryStateStore()
    engine = Engine(store, EngineOptions.from_settings(settings))
    stage = detection_stage(settings, store, checkpoints) if checkpoints is not None else None
    replayer = Replayer(engine, EventDecoder(), batch_size=700, stage=stage)
    result = await replayer.run([path], out)
    return await collect_figures(store, settings.bucket_seconds), result.events_read


async def _worker_checkpoints(settings: Settings) -> dict[int, dict[str, str]]:
    store = RedisStateStore.from_settings(settings)
    try:
        checkpoints = RedisCheckpointStore(store.client, settings.key_prefix)
        found = {p: await checkpoints.load(p) for p in range(settings.partitions)}
        return {p: fields for p, fields in found.items() if fields}
    finally:
        await store.close()


async def _worker_figures(settings: Settings) -> list[Any]:
    store = RedisStateStore.from_settings(settings)
    try:
        return await collect_figures(store, settings.bucket_seconds)
    finally:
        await store.close()


def _diff(actual: list[Any], expected: list[Any]) -> list[str]:
    by_key = {(r["series"], r["day"]): r["counters"] for r in expected}
    got = {(r["series"], r["day"]): r["counters"] for r in actual}
    problems = []
    for key in sorted(set(by_key) | set(got)):
        if by_key.get(key) != got.get(key):
            problems.append(f"{key}: worker {got.get(key)} != replay {by_key.get(key)}")
    return problems


def _received(workers: list[WorkerProcess]) -> int:
    return sum((w.stats() or {}).get("received", 0) for w in workers)


def _wait_all_processed(workers: list[WorkerProcess], total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = [w.stats() or {} for w in workers]
        if sum(s.get("received", 0) for s in stats) >= total and all(
            s.get("held", 1) == 0 for s in stats
        ):
            return
        time.sleep(0.3)
    raise AssertionError(
        f"processed {_received(workers)} of {total}\n" + "\n".join(w.log_tail() for w in workers)
    )


async def _dead_letters(settings: Settings, expected: int) -> list[dict[str, Any]]:
    return await read_json_values(
        settings.broker, settings.topics.deadletter, lambda found: len(found) >= expected
    )


async def test_worker_counts_exactly_what_replay_counts(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = _settings(kafka_bootstrap, redis_url)
    path = _stream(tmp_path, invalid_rate=0.002)
    replay_checkpoints = MemoryCheckpointStore()
    expected, read = await _replay_figures(path, settings, tmp_path / "replay", replay_checkpoints)
    replay_dead = (tmp_path / "replay" / "deadletter.jsonl").read_text().splitlines()
    produced = await produce_files([path], settings)
    assert produced.total == read

    worker = WorkerProcess(settings, tmp_path).start()
    try:
        _wait_all_processed([worker], produced.total - produced.dead_lettered, timeout=180)
        stats = worker.stats()
        assert stats is not None
        assert stats["redis_round_trips"] / stats["received"] < 0.05
        # Detection: once the partitions are idle the worker closes the same windows as
        # the replay and its detectors hold exactly the replay's state.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if await _worker_checkpoints(settings) == replay_checkpoints.data:
                break
            await asyncio.sleep(1.0)
        assert replay_checkpoints.data
        assert await _worker_checkpoints(settings) == replay_checkpoints.data
    finally:
        worker.stop()

    assert _diff(await _worker_figures(settings), expected) == []
    letters = await _dead_letters(settings, len(replay_dead))
    assert len(letters) == len(replay_dead) > 0
    assert all(letter["error"] and "raw" in letter for letter in letters)
    assert all(("offset" in letter) or ("line" in letter) for letter in letters)


async def test_redis_frozen_for_ten_seconds_loses_nothing_and_counts_nothing_twice(
    kafka_bootstrap: str, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    settings = _settings(kafka_bootstrap, redis_server.url)
    both = _stream(tmp_path, days=2, seed=21)
    lines = both.read_bytes().splitlines(keepends=True)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"".join(lines[: len(lines) // 2]))
    second.write_bytes(b"".join(lines[len(lines) // 2 :]))
    expected, _ = await _replay_figures(both, settings, tmp_path / "replay")

    worker = WorkerProcess(settings, tmp_path).start()
    try:
        produced = await produce_files([first], settings)
        _wait_all_processed([worker], produced.total, timeout=180)
        redis_server.pause()
        try:
            more = await produce_files([second], settings)
            await asyncio.sleep(10)
        finally:
            redis_server.resume()
        _wait_all_processed([worker], produced.total + more.total, timeout=180)
        stats = worker.stats()
        assert stats is not None
        assert stats["retries"] > 0
    finally:
        worker.stop()
    assert _diff(await _worker_figures(settings), expected) == []


async def test_two_workers_share_the_partitions_and_survive_a_crash(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = _settings(kafka_bootstrap, redis_url)
    path = _stream(tmp_path, days=2, seed=31)
    expected, _ = await _replay_figures(path, settings, tmp_path / "replay")

    one = WorkerProcess(settings, tmp_path, "one").start()
    two = WorkerProcess(settings, tmp_path, "two").start()
    three: WorkerProcess | None = None
    try:
        for w in (one, two):
            w.wait_until(lambda s: s.get("ready", False), 60, "worker ready")
        produced = await produce_files([path], settings)
        # Let both make progress, then crash one of them mid-stream.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            s1, s2 = one.stats() or {}, two.stats() or {}
            if s1.get("received", 0) > 2000 and s2.get("received", 0) > 2000:
                break
            await asyncio.sleep(0.2)
        assert (one.stats() or {}).get("received", 0) > 0
        assert (two.stats() or {}).get("received", 0) > 0
        two.kill()
        three = WorkerProcess(settings, tmp_path, "three").start()
        # Redelivered events are dropped by the dedup records, so the survivors may
        # receive more than was produced; wait until the counters match instead.
        deadline = time.monotonic() + 240
        problems: list[str] = ["not compared yet"]
        while time.monotonic() < deadline:
            if _received([one, three]) + 0 >= 1:
                problems = _diff(await _worker_figures(settings), expected)
                if not problems:
                    break
            await asyncio.sleep(1.0)
        assert problems == [], problems[:5]
        assert produced.total > 0
    finally:
        for w in (one, two, three):
            if w is not None:
                w.stop()
