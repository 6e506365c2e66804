"""Redis clients for the configured server or cluster, with bounded timeouts."""

from __future__ import annotations

from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection

from cxstream.config import Settings

__all__ = ["PackedConnection", "connect_redis"]


class PackedConnection(Connection):
    """A connection that packs commands with hiredis's C packer, as redis-py's synchronous
    client does (the asyncio one packs them in Python, a microsecond per argument)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0]
        # Like redis-py: a command name such as "SCRIPT LOAD" is sent as separate words.
        if isinstance(first, str):
            args = (*first.encode().split(), *args[1:])
        elif b" " in first:
            args = (*first.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:  # a type only redis-py knows how to encode (or to reject)
            return super().pack_command(*args)


def connect_redis(settings: Settings) -> aioredis.Redis | RedisCluster:
    """A client for the configured Redis (or Redis Cluster), with bounded timeouts."""
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": 5.0,
        "socket_connect_timeout": 3.0,
        "health_check_interval": 15,
    }
    if password is not None:
        options["password"] = password
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, **options)
    # A URL that asks for TLS or a Unix socket gets redis-py's connection class for it.
    return aioredis.Redis.from_url(settings.redis_url, connection_class=PackedConnection, **options)
