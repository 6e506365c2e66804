"""The Kafka consumer of the worker: Faust's aiokafka consumer without per-message tasks.

Faust's fetch loop (``Consumer._drain_messages``) hands every fetched message to the
conductor through ``Service.wait_first(callback(message), suspend_flow.wait())``,
which creates four tasks and an ``asyncio.wait`` per message so that a rebalance
(``suspend_flow``) can abandon a delivery that is stuck on flow control. At tens of
thousands of messages per second that bookkeeping costs more CPU than the engine's
own work on the message.

:class:`DirectDeliveryConsumer` keeps the loop as it is (offsets, gaps, commits,
yielding to the event loop) but awaits the delivery directly while the flow runs,
and falls back to Faust's ``wait_first`` only when a rebalance has suspended the
flow. A delivery that is already under way when a rebalance starts simply finishes:
the ingest agent skips events fetched under an older consumer generation, and they
are read again from the committed offsets by the partition's next owner, exactly as
for an event that was on the channel's queue when the rebalance began.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from mode import Service

__all__ = ["DirectDeliveryConsumer", "consumer_class"]


class _ShortFetchWaitThread(AIOKafkaConsumerThread):
    """Faust's consumer thread with a configurable fetch wait (Faust fixes 1.5 s)."""

    fetch_max_wait_ms = 1500

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it creates its fetcher.
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        return consumer


class DirectDeliveryConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer; messages delivered without a task per message."""

    #: Longest the broker holds a fetch without new data (see :func:`consumer_class`).
    fetch_max_wait_ms = 1500

    def _new_consumer_thread(self) -> Any:
        thread = _ShortFetchWaitThread(self, loop=self.loop, beacon=self.beacon)
        thread.fetch_max_wait_ms = self.fetch_max_wait_ms
        return thread

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - in the worker
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        suspended = self.suspend_flow.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for

        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            if suspended():
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            else:
                                await callback(message)
                            set_read_offset(tp, offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


def consumer_class(fetch_max_wait_ms: int) -> type[DirectDeliveryConsumer]:
    """The worker's consumer class, with this fetch wait.

    A fetch that finds no new data is held by the broker for up to this long. Faust
    fixes it at 1.5 s; on a quiet topic (the outbox of actions) a broker that does not
    answer a held fetch as soon as data arrives then delays every action by up to that
    much.
    """
    attributes = {"fetch_max_wait_ms": fetch_max_wait_ms}
    return type("DirectDeliveryConsumer", (DirectDeliveryConsumer,), attributes)
