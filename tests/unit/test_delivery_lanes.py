"""The delivery agent's lanes: bounded concurrency, order within a key, acks after settling."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from cxstream.agents.delivery import InOrderAcks, KeyedLanes, lane_key, run_delivery

from cxstream.records import ActionRecord

AT = datetime(2026, 3, 2, 12, tzinfo=UTC)


def action(n: int, customer: str | None) -> ActionRecord:
    return ActionRecord(
        action_id=f"a{n}", type="apology_email", at=AT, rule="r", customer_id=customer
    )


async def test_jobs_of_one_key_run_in_order_and_others_alongside() -> None:
    lanes = KeyedLanes(4)
    gates = {name: asyncio.Event() for name in ("a1", "a2", "b1")}
    log: list[str] = []

    def job(name: str) -> Any:
        async def run() -> None:
            log.append(f"start {name}")
            await gates[name].wait()
            log.append(f"end {name}")

        return run

    await lanes.submit("a", job("a1"))
    await lanes.submit("a", job("a2"))
    await lanes.submit("b", job("b1"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert log == ["start a1", "start b1"]  # a2 waits for a1, b1 does not
    gates["a2"].set()
    gates["b1"].set()
    await asyncio.sleep(0)
    assert "start a2" not in log
    gates["a1"].set()
    await lanes.drain()
    assert log.index("end a1") < log.index("start a2")
    assert lanes.running == 0


async def test_no_more_than_concurrency_jobs_run_at_once() -> None:
    lanes = KeyedLanes(2)
    running = 0
    peak = 0
    release = asyncio.Event()

    async def job() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    await lanes.submit("k1", job)
    await lanes.submit("k2", job)
    third = asyncio.create_task(lanes.submit("k3", job))
    await asyncio.sleep(0)
    assert not third.done()  # waits for a free slot
    release.set()
    await third
    await lanes.drain()
    assert peak == 2


async def test_a_failed_job_is_raised_by_the_next_submit() -> None:
    lanes = KeyedLanes(2)

    async def boom() -> None:
        raise RuntimeError("store gone")

    async def fine() -> None:
        return None

    await lanes.submit("k", boom)
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="store gone"):
        await lanes.submit("k", fine)
    await lanes.drain()


def test_lane_key_groups_by_customer() -> None:
    assert lane_key(action(1, "c1")) == lane_key(action(2, "c1")) == "customer:c1"
    assert lane_key(action(3, None)) == "ops"


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        KeyedLanes(0)


class _Message:
    def __init__(self, value: bytes, partition: int) -> None:
        self.value = value
        self.key = b"k"
        self.topic = "cx.actions"
        self.partition = partition
        self.generation_id: int | None = 1


class _Event:
    def __init__(
        self, value: bytes, acked: list[bytes], signal: asyncio.Queue[None], partition: int = 0
    ) -> None:
        self.message = _Message(value, partition)
        self._acked = acked
        self._signal = signal

    def ack(self) -> None:
        self._acked.append(self.message.value)
        self._signal.put_nowait(None)


class _StoppableQueue(asyncio.Queue[Any]):
    """A channel queue into which the agent's stop is thrown, as Faust does."""

    _STOP = object()

    def stop(self) -> None:
        self.put_nowait(self._STOP)

    async def get(self) -> Any:
        item = await super().get()
        if item is self._STOP:
            raise StopAsyncIteration
        return item


class _Stream:
    """What run_delivery uses of a Faust stream: its channel's queue and should_stop."""

    def __init__(self) -> None:
        self.queue = _StoppableQueue()
        self.channel = self
        self.should_stop = False


async def test_run_delivery_acks_in_offset_order_once_settled() -> None:
    stream = _Stream()
    acked: list[bytes] = []
    signal: asyncio.Queue[None] = asyncio.Queue()
    handled: list[str] = []
    rejected: list[str] = []
    hold = asyncio.Event()

    async def handle(a: ActionRecord) -> None:
        if a.action_id == "a1":
            await hold.wait()
        handled.append(a.action_id)

    async def reject(event: Any, error: ValueError) -> None:
        rejected.append(event.message.value.decode())

    first, second = action(1, "c1").to_json().encode(), action(2, "c2").to_json().encode()
    for value, partition in ((first, 0), (second, 0), (b"not json", 1)):
        stream.queue.put_nowait(_Event(value, acked, signal, partition))
    task = asyncio.create_task(run_delivery(stream, handle, reject, concurrency=4, poll_s=0.01))
    await signal.get()
    # a2 is delivered while a1 is still in flight, but not acknowledged before a1: only
    # the other partition's event is.
    assert handled == ["a2"]
    assert rejected == ["not json"]
    assert acked == [b"not json"]
    hold.set()
    await signal.get()
    await signal.get()
    assert acked == [b"not json", first, second]
    stream.should_stop = True
    await task
    assert handled == ["a2", "a1"]


def test_in_order_acks_wait_for_earlier_events_of_the_partition() -> None:
    acks = InOrderAcks()
    acked: list[bytes] = []
    signal: asyncio.Queue[None] = asyncio.Queue()
    events = [_Event(bytes([n]), acked, signal, partition=n % 2) for n in range(4)]
    entries = [acks.track(e) for e in events]
    acks.settle(entries[2])
    acks.settle(entries[3])
    assert acked == []
    acks.settle(entries[1])
    assert acked == [bytes([1]), bytes([3])]
    acks.settle(entries[0])
    assert acked == [bytes([1]), bytes([3]), bytes([0]), bytes([2])]
    assert acks.waiting == 0


async def test_run_delivery_ends_with_the_error_of_a_delivery() -> None:
    stream = _Stream()
    acked: list[bytes] = []

    async def handle(a: ActionRecord) -> None:
        raise RuntimeError("unexpected")

    async def reject(event: Any, error: ValueError) -> None:
        return None

    stream.queue.put_nowait(_Event(action(1, "c1").to_json().encode(), acked, asyncio.Queue()))
    with pytest.raises(RuntimeError, match="unexpected"):
        await run_delivery(stream, handle, reject, concurrency=2, poll_s=0.01)
    assert acked == []


async def test_a_stop_lets_the_deliveries_in_flight_finish_and_acknowledges_them() -> None:
    stream = _Stream()
    acked: list[bytes] = []
    signal: asyncio.Queue[None] = asyncio.Queue()
    started = asyncio.Event()
    finish = asyncio.Event()
    handled: list[str] = []

    async def handle(a: ActionRecord) -> None:
        started.set()
        await finish.wait()
        handled.append(a.action_id)

    async def reject(event: Any, error: ValueError) -> None:
        raise AssertionError("nothing to reject")

    value = action(1, "c1").to_json().encode()
    stream.queue.put_nowait(_Event(value, acked, signal))
    task = asyncio.create_task(run_delivery(stream, handle, reject, concurrency=2, poll_s=0.01))
    await started.wait()
    stream.queue.stop()
    await asyncio.sleep(0.05)
    assert not task.done()  # the loop waits for the delivery in flight
    finish.set()
    await asyncio.wait_for(task, timeout=5)
    assert handled == ["a1"]
    assert acked == [value]


async def test_a_delivery_outlasting_the_drain_time_is_cancelled_unacked() -> None:
    stream = _Stream()
    acked: list[bytes] = []
    started = asyncio.Event()

    async def handle(a: ActionRecord) -> None:
        started.set()
        await asyncio.Event().wait()  # never finishes

    async def reject(event: Any, error: ValueError) -> None:
        return None

    stream.queue.put_nowait(_Event(action(1, "c1").to_json().encode(), acked, asyncio.Queue()))
    task = asyncio.create_task(
        run_delivery(stream, handle, reject, concurrency=2, poll_s=0.01, drain_s=0.05)
    )
    await started.wait()
    stream.queue.stop()
    await asyncio.wait_for(task, timeout=5)
    assert acked == []  # read again by whoever owns the partition next


async def test_events_fetched_before_a_rebalance_are_left_to_the_new_owner() -> None:
    stream = _Stream()
    acked: list[bytes] = []
    signal: asyncio.Queue[None] = asyncio.Queue()
    handled: list[str] = []

    async def handle(a: ActionRecord) -> None:
        handled.append(a.action_id)

    async def reject(event: Any, error: ValueError) -> None:
        raise AssertionError("nothing to reject")

    stale = _Event(action(1, "c1").to_json().encode(), acked, signal)
    stale.message.generation_id = 1
    fresh = _Event(action(2, "c2").to_json().encode(), acked, signal)
    fresh.message.generation_id = 2
    stream.queue.put_nowait(stale)
    stream.queue.put_nowait(fresh)
    task = asyncio.create_task(
        run_delivery(
            stream,
            handle,
            reject,
            concurrency=2,
            current=lambda event: event.message.generation_id == 2,
            poll_s=0.01,
        )
    )
    await signal.get()
    stream.queue.stop()
    await asyncio.wait_for(task, timeout=5)
    assert handled == ["a2"]
    assert acked == [fresh.message.value]
