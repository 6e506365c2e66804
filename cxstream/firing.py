"""Which alerts are firing right now, shared between the detection stage and the planner.

The detection stage decides alert state changes per owner partition; the action
planner, running in every worker's ingest loop, needs the alerts that are firing
anywhere (a late-rate alert on a country and carrier makes that segment's undelivered
orders eligible for a delay notice). :class:`RedisFiringAlerts` keeps them in one Redis
hash, ``{prefix}:{alerts}:firing`` (alert id -> alert line), written by the detection
loop after it has published the lines; :class:`MemoryFiringAlerts` serves replay.

>>> import asyncio
>>> from datetime import UTC, datetime
>>> from cxstream.records import AlertRecord
>>> line = dict(alert_id="a1", rule="late-rate", at=datetime(2026, 3, 2, tzinfo=UTC),
...             kpi="late_rate", segment={"country": "FR"}, value=0.3, expected=0.05,
...             score=1.0, severity="critical")
>>> alerts = MemoryFiringAlerts()
>>> asyncio.run(alerts.update([AlertRecord(status="firing", **line)]))
>>> [a.alert_id for a in asyncio.run(alerts.firing())]
['a1']
>>> asyncio.run(alerts.update([AlertRecord(status="resolved", **line)]))
>>> asyncio.run(alerts.firing())
[]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from cxstream.records import AlertRecord

__all__ = ["FiringAlerts", "MemoryFiringAlerts", "RedisFiringAlerts"]


class FiringAlerts(Protocol):
    async def update(self, records: Iterable[AlertRecord]) -> None:
        """Apply alert state changes in order (firing adds, resolved removes)."""
        ...

    async def firing(self) -> list[AlertRecord]:
        """The alerts firing now, by id."""
        ...


class MemoryFiringAlerts:
    def __init__(self) -> None:
        self._firing: dict[str, AlertRecord] = {}

    async def update(self, records: Iterable[AlertRecord]) -> None:
        for record in records:
            if record.status == "firing":
                self._firing[record.alert_id] = record
            else:
                self._firing.pop(record.alert_id, None)

    async def firing(self) -> list[AlertRecord]:
        return [self._firing[k] for k in sorted(self._firing)]


class RedisFiringAlerts:
    """One hash of the firing alert lines; updates are idempotent (set and delete)."""

    def __init__(self, client: aioredis.Redis | RedisCluster, prefix: str = "cx") -> None:
        self.client = client
        self.key = f"{prefix}:{{alerts}}:firing"

    async def update(self, records: Iterable[AlertRecord]) -> None:
        latest: dict[str, AlertRecord] = {}
        for record in records:
            latest[record.alert_id] = record
        firing = {k: r.to_json() for k, r in latest.items() if r.status == "firing"}
        resolved = [k for k, r in latest.items() if r.status != "firing"]
        if firing:
            await self.client.hset(self.key, mapping=firing)  # type: ignore[arg-type]
        if resolved:
            await self.client.hdel(self.key, *resolved)

    async def firing(self) -> list[AlertRecord]:
        raw: dict[str, str] = await self.client.hgetall(self.key)  # type: ignore[assignment]
        return [AlertRecord.model_validate_json(raw[k]) for k in sorted(raw)]
