"""Where HTTP-ingested events go: the :class:`EventSink` contract and its Kafka implementation.

An :class:`EventSink` writes one record and returns only once the broker has
acknowledged it; the ingest endpoint sends a request's records concurrently (so they
are batched) and answers only when all of them are acknowledged, or 503 when any is
not. A retried request may therefore write some events twice: the engine counts each
``event_id`` once, and dead letters are at-least-once like the worker's.

:class:`AIOKafkaEventSink` is an :class:`aiokafka.AIOKafkaProducer` of its own with
``acks="all"``, also inside the worker, rather than Faust's producer:

* the same sink serves the HTTP app with or without a Faust worker (tests, a
  stand-alone ingest process), so the web package does not depend on Faust;
* every record's delivery future belongs to the request that sent it, so a broker
  error or timeout becomes that request's 503, while Faust's producer is tuned for the
  worker's own output (and handles its errors at the worker's level);
* idempotence is decided for this producer alone: ``auto`` (the default) asks the
  broker for a producer id and falls back to plain ``acks=all`` with a warning when
  the broker refuses (the embedded Tansu broker does), ``on`` requires it, ``off``
  never asks.

The producer starts on first use (and again after a failed start), so a broker that is
down when the worker starts only makes ingest requests fail with 503 until it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

__all__ = ["AIOKafkaEventSink", "EventSink", "SinkUnavailable"]

log = logging.getLogger("cxstream.web")

Idempotence = Literal["auto", "on", "off"]


class EventSink(Protocol):
    """Writes records to topics."""

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Write one record and return once the broker has acknowledged it; raise (e.g.
        :class:`SinkUnavailable`) when it cannot."""
        ...


class SinkUnavailable(Exception):
    """The broker cannot take records now (the request is answered with 503)."""


class AIOKafkaEventSink:
    """An :class:`EventSink` on an aiokafka producer with ``acks="all"``.

    ``options`` are the connection options of every cxstream Kafka client
    (:func:`cxstream.producing.kafka_client_options`).
    """

    def __init__(
        self,
        options: Mapping[str, Any],
        *,
        idempotence: Idempotence = "auto",
        request_timeout_s: float = 10.0,
        max_request_bytes: int = 2 * 1024 * 1024,
        producer_factory: Callable[..., AIOKafkaProducer] = AIOKafkaProducer,
    ) -> None:
        self.options = dict(options)
        self.idempotence = idempotence
        self.request_timeout_s = request_timeout_s
        self.max_request_bytes = max_request_bytes
        self._factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._stopped = False
        #: Whether the running producer is idempotent (``None`` before it started).
        self.idempotent: bool | None = None

    def _new(self, idempotent: bool) -> AIOKafkaProducer:
        return self._factory(
            **self.options,
            acks="all",
            enable_idempotence=idempotent,
            linger_ms=5,
            request_timeout_ms=int(self.request_timeout_s * 1000),
            max_request_size=self.max_request_bytes,
        )

    async def _start_one(self, idempotent: bool) -> AIOKafkaProducer:
        producer = self._new(idempotent)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def _open(self) -> AIOKafkaProducer:
        if self.idempotence != "off" and self.idempotent is not False:
            try:
                producer = await self._start_one(True)
            except KafkaConnectionError:
                raise
            except KafkaError as exc:
                if self.idempotence == "on":
                    raise
                log.warning(
                    "the broker refused an idempotent producer (%s): ingesting with acks=all"
                    " without idempotence",
                    type(exc).__name__,
                    extra={"stage": "web"},
                )
            else:
                self.idempotent = True
                return producer
        producer = await self._start_one(False)
        self.idempotent = False
        return producer

    async def start(self) -> AIOKafkaProducer:
        """Start the producer unless it runs already; raise :class:`SinkUnavailable` when
        the broker cannot be reached."""
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._stopped:
                raise SinkUnavailable("the sink is stopped")
            if self._producer is None:
                try:
                    self._producer = await self._open()
                except KafkaError as exc:
                    raise SinkUnavailable(f"broker unavailable: {type(exc).__name__}") from exc
            return self._producer

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        producer = await self.start()
        try:
            delivery = await producer.send(topic, value=value, key=key)
            await delivery
        except KafkaError as exc:
            raise SinkUnavailable(f"broker did not take the record: {type(exc).__name__}") from exc

    async def ping(self) -> bool:
        """Whether the broker answers a metadata request (the readiness check)."""
        producer = await self.start()
        await producer.client.fetch_all_metadata()
        return True

    async def stop(self) -> None:
        """Flush and stop the producer; later sends fail."""
        async with self._lock:
            self._stopped = True
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
