"""Silences in a real Redis (single node and Cluster), and the silence CLI against it.

Each test runs under a key prefix of its own. The store keeps its keys under one hash
tag, so every script touches a single slot on a Redis Cluster.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from cxstream.cli import main
from cxstream.clock import ManualClock
from cxstream.config import Settings
from cxstream.rules.silences import RedisSilenceStore, SilenceNotFoundError, new_silence

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture(params=["single-node", "cluster"])
def settings(request: pytest.FixtureRequest, redis_url: str) -> Settings:
    cluster = request.param == "cluster"
    return Settings(
        redis_url=request.getfixturevalue("redis_cluster_url") if cluster else redis_url,
        redis_cluster=cluster,
        key_prefix=f"t{uuid.uuid4().hex[:12]}",
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[RedisSilenceStore]:
    opened = RedisSilenceStore.from_settings(settings, retention=timedelta(days=1))
    try:
        yield opened
    finally:
        await opened.close()


async def test_the_keys_share_one_slot(store: RedisSilenceStore, settings: Settings) -> None:
    assert store.data_key == f"{settings.key_prefix}:{{silences}}:data"
    assert store.ends_key == f"{settings.key_prefix}:{{silences}}:ends"
    assert key_slot(store.data_key.encode()) == key_slot(store.ends_key.encode())


async def test_add_list_expire_and_keep_expired_silences(
    store: RedisSilenceStore, settings: Settings
) -> None:
    active = new_silence(["country=DE", 'kpi=~"nps|detractor_rate"'], 2 * H, "ana", "release", NOW)
    pending = new_silence(["carrier=dpd"], H, "ben", "strike", NOW, starts_at=NOW + 3 * H)
    await store.add(active)
    await store.add(pending)
    assert isinstance(store.client, RedisCluster) is settings.redis_cluster

    assert await store.get(active.id) == active
    assert await store.get("missing") is None
    at = NOW + H
    assert [s.id for s in await store.list_silences(at)] == [active.id, pending.id]
    assert [s.id for s in await store.active(at)] == [active.id]

    ended = await store.expire(active.id, at)
    assert ended.ends_at == at
    assert await store.active(at) == []
    assert [s.id for s in await store.list_silences(at)] == [pending.id]
    assert [s.id for s in await store.list_silences(at, include_expired=True)] == [
        active.id,
        pending.id,
    ]
    # Expiring again changes nothing; an unknown id is an error.
    assert await store.expire(active.id, at + H) == ended
    with pytest.raises(SilenceNotFoundError):
        await store.expire("missing", at)


async def test_silences_ended_longer_than_the_retention_ago_are_deleted(
    store: RedisSilenceStore,
) -> None:
    old = new_silence(["country=FR"], H, "ana", "old", NOW)
    await store.add(old)
    later = new_silence(["country=NL"], H, "ana", "new", NOW + timedelta(days=3))
    await store.add(later)
    assert await store.get(old.id) is None
    assert [s.id for s in await store.list_silences(NOW, include_expired=True)] == [later.id]
    assert await store.client.zcard(store.ends_key) == 1


def test_the_silence_commands_use_the_configured_redis(settings: Settings) -> None:
    env = {
        "CXSTREAM_REDIS_URL": settings.redis_url,
        "CXSTREAM_REDIS_CLUSTER": str(settings.redis_cluster).lower(),
        "CXSTREAM_KEY_PREFIX": settings.key_prefix,
    }
    clock = ManualClock(wall=NOW)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(main, list(args), env=env, obj={"clock": clock})
        assert result.exit_code == 0, result.output
        return result.output

    silence_id = run(
        "silence",
        "add",
        "--matcher",
        "country=DE",
        "--duration",
        "1h",
        "--author",
        "ana",
        "--comment",
        "maintenance",
    ).strip()
    (listed,) = [json.loads(line) for line in run("silence", "list", "--json").splitlines()]
    assert (listed["id"], listed["state"]) == (silence_id, "active")
    clock.advance(600)
    assert "expired" in run("silence", "expire", silence_id)
    assert run("silence", "list", "--json") == ""
    assert silence_id in run("silence", "list", "--expired")
