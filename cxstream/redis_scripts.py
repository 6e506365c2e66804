"""Lua scripts run by SHA in one pipeline, reloaded when Redis has lost them.

The state store and the planner state both send many ``EVALSHA`` calls per batch in one
pipeline. Scripts are loaded on first use; a Redis that restarted (or a failover to a
replica) without them answers ``NOSCRIPT``, and the pipeline is sent once more after a
reload. That is safe only for scripts that may run twice, which is how every script of
cxstream is written (they check before they write).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

__all__ = ["ScriptPipeline"]


class ScriptPipeline:
    """Runs pipelines of script calls for one client."""

    def __init__(self, client: aioredis.Redis | RedisCluster, scripts: Mapping[str, str]) -> None:
        self.client = client
        self.scripts = dict(scripts)
        self._shas: dict[str, str] = {}

    async def shas(self) -> dict[str, str]:
        """The SHA of every script by name (loading them on first use)."""
        if not self._shas:
            self._shas = {
                name: await self.client.script_load(body) for name, body in self.scripts.items()
            }
        return self._shas

    async def execute(self, fill: Callable[[Any, dict[str, str]], None]) -> list[Any]:
        """Run one pipeline built by ``fill(pipe, shas)``; if Redis lost the scripts,
        reload them and run it once more."""
        for attempt in range(2):
            shas = await self.shas()
            pipe = self.client.pipeline(transaction=False)
            fill(pipe, shas)
            try:
                results: list[Any] = await pipe.execute()
            except NoScriptError:
                self._shas = {}
                if attempt:
                    raise
                continue
            return results
        raise AssertionError("unreachable")
