"""Shared pytest fixtures: a Kafka-compatible broker, Redis servers, topics and unique names.

Servers are started once per test session on free loopback ports and always stopped
at the end. Set ``CXSTREAM_TEST_KAFKA=host:port`` or ``CXSTREAM_TEST_REDIS_URL=redis://...``
to use external servers instead. Tests that freeze or kill Redis use ``redis_server``,
which is always a private embedded instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from cxstream.embedded import EmbeddedKafka, EmbeddedRedis
from cxstream.embedded_cluster import EmbeddedRedisCluster

__all__ = [
    "TopicFactory",
    "UniqueName",
    "consumer_group",
    "kafka_bootstrap",
    "redis_cluster_url",
    "redis_server",
    "redis_url",
    "topic_factory",
    "unique_name",
]

KAFKA_ENV = "CXSTREAM_TEST_KAFKA"
REDIS_ENV = "CXSTREAM_TEST_REDIS_URL"
REDIS_CLUSTER_ENV = "CXSTREAM_TEST_REDIS_CLUSTER_URL"

_T = TypeVar("_T")

UniqueName = Callable[[str], str]


class TopicFactory(Protocol):
    """Creates a topic named ``<name_prefix>-<random hex>`` and returns the name."""

    def __call__(self, name_prefix: str, partitions: int = 1) -> str: ...


def _run_coroutine(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion on a private loop in a worker thread.

    This keeps the helpers usable from plain tests and from inside a running loop.
    """

    async def main() -> _T:
        return await factory()

    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, main()).result()


def _new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of the test broker: ``$CXSTREAM_TEST_KAFKA`` or an embedded Tansu."""
    external = os.environ.get(KAFKA_ENV)
    if external:
        yield external
        return
    log_path = tmp_path_factory.mktemp("kafka") / "tansu.log"
    with EmbeddedKafka(log_path=log_path) as kafka:
        yield kafka.bootstrap


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the shared test Redis: ``$CXSTREAM_TEST_REDIS_URL`` or an embedded server."""
    external = os.environ.get(REDIS_ENV)
    if external:
        yield external
        return
    log_path = tmp_path_factory.mktemp("redis") / "redis.log"
    with EmbeddedRedis(log_path=log_path) as redis:
        yield redis.url


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A node of a Redis Cluster: ``$CXSTREAM_TEST_REDIS_CLUSTER_URL`` or a local one of
    three primaries."""
    external = os.environ.get(REDIS_CLUSTER_ENV)
    if external:
        yield external
        return
    with EmbeddedRedisCluster(primaries=3) as cluster:
        yield cluster.url


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A private, empty embedded Redis that the test may pause, kill or restart."""
    log_path = tmp_path_factory.mktemp("private-redis") / "redis.log"
    with EmbeddedRedis(log_path=log_path) as redis:
        yield redis


@pytest.fixture
def unique_name() -> UniqueName:
    """Callable ``(prefix) -> "prefix-<12 hex chars>"`` for topics, groups and keys."""
    return _new_name


@pytest.fixture
def consumer_group() -> str:
    """A consumer group id that no other test uses."""
    return _new_name("cxstream-test-group")


@pytest.fixture
def topic_factory(kafka_bootstrap: str) -> Iterator[TopicFactory]:
    """Callable ``(name_prefix, partitions=1) -> topic`` that creates a uniquely named topic.

    Every topic it made is deleted (best effort) when the test ends.
    """
    created: list[str] = []

    def create(name_prefix: str, partitions: int = 1) -> str:
        name = _new_name(name_prefix)

        async def create_topic() -> None:
            admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
            try:
                await admin.start()
                response = await admin.create_topics(
                    [NewTopic(name=name, num_partitions=partitions, replication_factor=1)]
                )
            finally:
                await admin.close()
            for topic, error_code, *_ in response.topic_errors:
                if error_code != 0:
                    raise RuntimeError(f"cannot create topic {topic!r}: error code {error_code}")

        _run_coroutine(create_topic)
        created.append(name)
        return name

    yield create

    if not created:
        return

    async def delete_topics() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            await admin.start()
            await admin.delete_topics(created)
        finally:
            await admin.close()

    with contextlib.suppress(KafkaError, OSError):
        _run_coroutine(delete_topics)
