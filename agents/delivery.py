"""The delivery agent's loop: actions taken from the outbox and delivered several at a time.

Delivering one action means a few round trips (the idempotency claim, the contact
lookup, the SMTP conversation or the Slack request, the record), each of which waits
for its turn on an event loop that also runs the ingest batches. Taken one at a time,
the outbox is then drained at a few actions per round-trip time, well below the rate
at which a busy stream decides apologies, and the actions queue up behind each other.

:func:`run_delivery` therefore takes the events off the agent's channel itself (as the
ingest agent does) and hands each action to :class:`KeyedLanes`, which runs up to
``concurrency`` deliveries at once while keeping the actions of one customer (and all
actions without a customer: alert groups, digests) in the order they were read.
Effectively-once delivery is unchanged: each action is still claimed and recorded by
the dispatcher under its id, and an event is acknowledged only once its delivery is
settled (sent, held, skipped or dead-lettered) and every event read before it from the
same partition is too (:class:`InOrderAcks`): acknowledgements reach Faust in offset
order, exactly as when actions were delivered one at a time, so a committed offset never
passes an action still in flight. A crash with deliveries in flight reads them again, and
the idempotency records turn what had been sent into duplicates that are not sent again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from cxstream.records import ActionRecord

__all__ = ["InOrderAcks", "KeyedLanes", "lane_key", "run_delivery"]

log = logging.getLogger("cxstream.delivery")

#: Settles one readable action (delivered, held, skipped or dead-lettered).
Handle = Callable[[ActionRecord], Awaitable[None]]
#: Deals with an event whose value is not an action (``(event, error)``).
Reject = Callable[[Any, ValueError], Awaitable[None]]
Job = Callable[[], Awaitable[None]]

#: The lane of actions that concern no customer (alert groups and their updates, digests).
OPS_LANE = "ops"


def lane_key(action: ActionRecord) -> str:
    """Actions with the same key are delivered one after the other, in order.

    >>> from datetime import UTC, datetime
    >>> at = datetime(2026, 3, 2, tzinfo=UTC)
    >>> lane_key(ActionRecord(action_id="a", type="apology_email", at=at, rule="r",
    ...                       customer_id="c7"))
    'customer:c7'
    >>> lane_key(ActionRecord(action_id="b", type="slack_alert", at=at, rule="r"))
    'ops'
    """
    return f"customer:{action.customer_id}" if action.customer_id else OPS_LANE


class KeyedLanes:
    """Runs jobs concurrently, at most ``concurrency`` at once; jobs submitted under the
    same key run one after the other in the order they were submitted.

    The first job to fail makes the next :meth:`submit`, :meth:`check` or :meth:`drain`
    raise its error; the jobs already running are left to finish.
    """

    def __init__(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._last: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    @property
    def running(self) -> int:
        """Jobs started and not finished (including those waiting for their key)."""
        return len(self._tasks)

    def check(self) -> None:
        """Raise the first failure of a job since the last call (once)."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    async def submit(self, key: str, job: Job) -> None:
        """Start ``job`` once fewer than ``concurrency`` jobs are running (it then waits
        for the previous job of ``key``, if any, before it runs)."""
        self.check()
        await self._slots.acquire()
        try:
            self.check()
        except BaseException:
            self._slots.release()
            raise
        previous = self._last.get(key)
        task = asyncio.create_task(self._run(key, previous, job))
        self._last[key] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: str, previous: asyncio.Task[None] | None, job: Job) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])  # its outcome is its own
            await job()
        except Exception as exc:
            if self._failure is None:
                self._failure = exc  # raised by the next submit(), check() or drain()
            else:
                log.error("another delivery failed too", exc_info=exc)
        finally:
            self._slots.release()
            if self._last.get(key) is asyncio.current_task():
                del self._last[key]

    async def drain(self) -> None:
        """Wait until every submitted job has finished; raise the first failure."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.wait(pending)
        self.check()

    async def cancel(self) -> None:
        """Cancel the running jobs and wait until they have stopped."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._last.clear()


class InOrderAcks:
    """Acknowledges a partition's events in the order they were read, each once it and
    every earlier one of its partition are settled."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, int], deque[list[Any]]] = {}

    @property
    def waiting(self) -> int:
        """Events read and not acknowledged yet."""
        return sum(len(entries) for entries in self._pending.values())

    def track(self, event: Any) -> list[Any]:
        """Note ``event`` as read (call in the order events are read)."""
        entry = [event, False]
        message = event.message
        self._pending.setdefault((message.topic, message.partition), deque()).append(entry)
        return entry

    def settle(self, entry: list[Any]) -> None:
        """``entry``'s event is settled: acknowledge it and the settled ones after it, if
        nothing read before them is still in flight."""
        entry[1] = True
        message = entry[0].message
        entries = self._pending[(message.topic, message.partition)]
        while entries and entries[0][1]:
            entries.popleft()[0].ack()  # the consumer commits up to the last acknowledged


async def run_delivery(
    stream: Any,
    handle: Handle,
    reject: Reject,
    *,
    concurrency: int,
    current: Callable[[Any], bool] = lambda event: True,
    poll_s: float = 1.0,
    drain_s: float = 10.0,
) -> None:
    """Deliver the actions arriving on a Faust agent's ``stream`` until it stops.

    Each event is acknowledged once ``handle`` (or ``reject``, for a value that is not
    an action) has returned for it and for every event read before it from its
    partition. An event for which ``current`` is false (fetched before a rebalance) is
    left alone: the partition's new owner reads it again. When the agent is told to
    stop, the deliveries in flight get ``drain_s`` seconds to finish (a delivery that
    finishes is recorded, and not sent again after the restart); those still running
    then are cancelled and their events stay unacknowledged. An error of ``handle`` or
    ``reject`` ends the loop with that error, after the deliveries in flight have been
    cancelled, and leaves the event unacknowledged.
    """
    queue = stream.channel.queue
    lanes = KeyedLanes(concurrency)
    acks = InOrderAcks()
    try:
        while not stream.should_stop:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=poll_s)
            except TimeoutError:
                lanes.check()
                continue
            except StopAsyncIteration:  # Faust's way of telling the agent to stop
                break
            if not current(event):
                continue
            raw = event.message.value or b""
            entry = acks.track(event)
            try:
                action = ActionRecord.model_validate_json(raw)
            except ValueError as error:
                await lanes.submit(OPS_LANE, _settle(acks, entry, partial(reject, event, error)))
                continue
            await lanes.submit(lane_key(action), _settle(acks, entry, partial(handle, action)))
        try:
            await asyncio.wait_for(lanes.drain(), timeout=drain_s)
        except TimeoutError:
            log.warning(
                "stopping with %d deliveries still in flight",
                lanes.running,
                extra={"stage": "delivery"},
            )
    finally:
        await lanes.cancel()


def _settle(acks: InOrderAcks, entry: list[Any], work: Job) -> Job:
    async def job() -> None:
        await work()
        acks.settle(entry)

    return job
