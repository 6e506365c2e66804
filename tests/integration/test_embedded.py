"""Integration tests for the embedded broker and Redis servers and the shared fixtures."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections import defaultdict
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cxstream.embedded import (
    EmbeddedKafka,
    EmbeddedRedis,
    EmbeddedServer,
    EmbeddedServerError,
    free_port,
)
from tests.conftest import TopicFactory, UniqueName

__all__: list[str] = []

pytestmark = pytest.mark.integration


class _MissingBinaryServer(EmbeddedServer):
    name = "missing"

    def _command(self, workdir: Path) -> list[str]:
        return [str(workdir / "no-such-binary")]

    def _is_ready(self) -> bool:
        return False


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_keyed_messages_round_trip_on_three_partitions(
    kafka_bootstrap: str, topic_factory: TopicFactory, consumer_group: str
) -> None:
    topic = topic_factory("embedded-roundtrip", partitions=3)
    keys = [f"customer-{i}" for i in range(6)]
    sent = [(keys[i % len(keys)], {"seq": i}) for i in range(60)]

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
    await producer.start()
    try:
        for key, value in sent:
            await producer.send(topic, json.dumps(value).encode(), key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=consumer_group,
        auto_offset_reset="earliest",
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    partitions_by_key: dict[str, set[int]] = defaultdict(set)
    seqs_by_key: dict[str, list[int]] = defaultdict(list)
    try:
        async with asyncio.timeout(20):
            received = 0
            while received < len(sent):
                batches = await consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        assert record.key is not None
                        assert record.value is not None
                        key = record.key.decode()
                        partitions_by_key[key].add(tp.partition)
                        seqs_by_key[key].append(json.loads(record.value)["seq"])
                        received += 1
        await consumer.commit()
    finally:
        await consumer.stop()

    assert received == len(sent)
    assert all(len(parts) == 1 for parts in partitions_by_key.values())
    assert len({p for parts in partitions_by_key.values() for p in parts}) > 1
    for key, seqs in seqs_by_key.items():
        expected = [i for i, (k, _) in enumerate(sent) if k == key]
        assert seqs == expected


async def test_redis_ping_set_get(redis_url: str, unique_name: UniqueName) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await client.ping()
        key = unique_name("embedded-test")
        await client.set(key, "value", ex=60)
        assert await client.get(key) == b"value"
    finally:
        await client.aclose()


async def test_paused_redis_times_out_then_recovers(redis_server: EmbeddedRedis) -> None:
    client = aioredis.Redis.from_url(redis_server.url, socket_timeout=0.3)
    try:
        await client.set("kept", "1")
        redis_server.pause()
        assert redis_server.paused
        with pytest.raises((RedisTimeoutError, RedisConnectionError)):
            await client.get("kept")
        redis_server.resume()
        assert await client.ping()
        assert await client.get("kept") == b"1"
    finally:
        redis_server.resume()
        await client.aclose()


async def test_restarted_redis_keeps_port_and_comes_back_empty(
    redis_server: EmbeddedRedis,
) -> None:
    port = redis_server.port
    client = aioredis.Redis.from_url(redis_server.url, socket_timeout=1.0)
    try:
        await client.set("lost", "1")
        redis_server.kill()
        assert not redis_server.running
        with pytest.raises(RedisConnectionError):
            await client.ping()
        redis_server.start()
        assert redis_server.port == port
        assert await client.get("lost") is None
    finally:
        await client.aclose()


def test_start_failure_reports_log_tail() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        server = EmbeddedRedis(port=taken.getsockname()[1], startup_timeout=10)
        with pytest.raises(EmbeddedServerError, match="last log lines"):
            server.start()
        assert not server.running


def test_kafka_context_manager_stops_the_broker() -> None:
    with EmbeddedKafka(port=free_port()) as kafka:
        pid = kafka.pid
        assert pid is not None
        assert kafka.bootstrap == f"127.0.0.1:{kafka.port}"
    assert not kafka.running
    assert not _process_exists(pid)


def test_missing_binary_is_reported_and_cleaned_up() -> None:
    server = _MissingBinaryServer()
    with pytest.raises(EmbeddedServerError, match="cannot run missing"):
        server.start()
    assert not server.running
    assert server.log_path is None
