"""Delivering decided actions: hold until allowed, skip what is settled, dead-letter failures.

:class:`DeliveryLoop` sits between the actions outbox (``cx.actions``) and the
:class:`~cxstream.notify.dispatch.ActionDispatcher`:

* an action with ``detail["not_before"]`` in the future (quiet hours, a VIP task's
  reminder due after its SLA) is put into the :class:`ScheduledActions` store and
  delivered by :meth:`DeliveryLoop.release_due` once that time has come: held, never
  dropped, and kept across restarts;
* a VIP task reminder whose task a support lead acknowledged (``cxstream tasks ack``)
  is not sent;
* the dispatcher sends each action effectively once (idempotency records); when it
  gives up, the action and the error go to the dead-letter topic
  (``cx.actions.deadletter``); a store outage is retried, nothing is lost.

An action is removed from the schedule only after its delivery is settled, so a crash
in between delivers it again, which the idempotency record turns into a duplicate
that is not sent.

Each dispatch is timed (``cxstream_stage_seconds{stage="dispatch"}``) and its outcome
counted (``cxstream_actions_total{type, outcome="sent"|"failed"|"deadlettered"}``) in a
:class:`~cxstream.metrics.Metrics`, a private one unless given.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from cxstream.clock import Clock, SystemClock
from cxstream.metrics import Metrics
from cxstream.notify.dispatch import ActionDispatcher
from cxstream.notify.idempotency import IdempotencyStoreError
from cxstream.planning.tasks import TaskAcknowledgements
from cxstream.records import ActionRecord
from cxstream.retry import Backoff, retry_forever

__all__ = [
    "DeliveryLoop",
    "MemoryScheduledActions",
    "RedisScheduledActions",
    "ScheduledActions",
    "not_before",
]

log = logging.getLogger("cxstream.delivery")

#: Publishes a dead-letter record and returns once the broker has it.
SendDeadLetter = Callable[[ActionRecord, dict[str, Any]], Awaitable[None]]


def not_before(action: ActionRecord) -> datetime | None:
    """When the action may be delivered at the earliest (``None``: now)."""
    raw = action.detail.get("not_before")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


class ScheduledActions(Protocol):
    async def add(self, action: ActionRecord, due: datetime) -> None: ...

    async def due(self, now: datetime, limit: int = 100) -> list[ActionRecord]:
        """Held actions whose time has come, earliest first."""
        ...

    async def remove(self, action: ActionRecord) -> None: ...


class MemoryScheduledActions:
    def __init__(self) -> None:
        self._items: dict[str, tuple[float, ActionRecord]] = {}

    async def add(self, action: ActionRecord, due: datetime) -> None:
        self._items[action.action_id] = (due.timestamp(), action)

    async def due(self, now: datetime, limit: int = 100) -> list[ActionRecord]:
        ready = sorted(v for v in self._items.values() if v[0] <= now.timestamp())
        return [a for _, a in ready[:limit]]

    async def remove(self, action: ActionRecord) -> None:
        self._items.pop(action.action_id, None)

    def __len__(self) -> int:
        return len(self._items)


class RedisScheduledActions:
    """A sorted set ``{prefix}:{outbox}:scheduled`` of action JSON by due time."""

    def __init__(self, client: aioredis.Redis | RedisCluster, prefix: str = "cx") -> None:
        self.client = client
        self.key = f"{prefix}:{{outbox}}:scheduled"

    async def add(self, action: ActionRecord, due: datetime) -> None:
        await self.client.zadd(self.key, {action.to_json(): due.timestamp()})

    async def due(self, now: datetime, limit: int = 100) -> list[ActionRecord]:
        raw: list[str] = await self.client.zrangebyscore(  # type: ignore[assignment]
            self.key, "-inf", now.timestamp(), 0, limit
        )
        return [ActionRecord.model_validate_json(item) for item in raw]

    async def remove(self, action: ActionRecord) -> None:
        await self.client.zrem(self.key, action.to_json())


class DeliveryLoop:
    """Hold, skip, dispatch, dead-letter; ``handle`` may run for several actions at once."""

    def __init__(
        self,
        dispatcher: ActionDispatcher,
        scheduled: ScheduledActions,
        acknowledgements: TaskAcknowledgements,
        send_deadletter: SendDeadLetter,
        *,
        backoff: Backoff,
        clock: Clock | None = None,
        hold: bool = True,
        metrics: Metrics | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.scheduled = scheduled
        self.acknowledgements = acknowledgements
        self.send_deadletter = send_deadletter
        self.backoff = backoff
        self.clock = clock or SystemClock()
        self.hold = hold
        self.metrics = metrics if metrics is not None else Metrics()
        self.counts: Counter[str] = Counter()

    async def handle(self, action: ActionRecord) -> None:
        """Deliver ``action`` now, or hold it until its ``not_before``."""
        due = not_before(action)
        if self.hold and due is not None and due > self.clock.now():
            await retry_forever(
                lambda: self.scheduled.add(action, due), self.backoff, what="schedule action"
            )
            self.counts["held"] += 1
            return
        await self._deliver(action)

    async def release_due(self) -> int:
        """Deliver the held actions whose time has come; returns how many."""
        ready = await self.scheduled.due(self.clock.now())
        for action in ready:
            await self._deliver(action)
            await self._unschedule(action)
        return len(ready)

    async def _unschedule(self, action: ActionRecord) -> None:
        await retry_forever(
            lambda: self.scheduled.remove(action), self.backoff, what="unschedule action"
        )

    async def _deliver(self, action: ActionRecord) -> None:
        task = action.detail.get("task_id")
        if action.detail.get("renotify") and isinstance(task, str):
            acknowledged = await retry_forever(
                lambda: self.acknowledgements.is_acknowledged(task),
                self.backoff,
                what="task acknowledgement",
            )
            if acknowledged:
                self.counts["acknowledged"] += 1
                return
        with self.metrics.timed("dispatch"):
            result = await retry_forever(
                lambda: self.dispatcher.dispatch(action),
                self.backoff,
                what="dispatch",
                retry_on=(IdempotencyStoreError, OSError),
            )
        self.counts[result.status] += 1
        self.counts[f"{action.type}:{result.status}"] += 1
        if result.status in ("sent", "failed"):
            self.metrics.action(action.type, result.status)
        if result.status == "failed":
            record = result.deadletter_record(action)
            log.warning(
                "action %s failed: %s",
                action.action_id,
                result.error,
                extra={"stage": "delivery", "detail": json.dumps(record, default=str)[:500]},
            )
            await retry_forever(
                lambda: self.send_deadletter(action, record),
                self.backoff,
                what="action dead letter",
            )
            self.metrics.action(action.type, "deadlettered")
            self.metrics.deadlettered("action", "delivery failed")
