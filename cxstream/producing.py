"""``cxstream produce``: send JSONL events to their topics with the contract's keys.

Each line goes to the topic of its ``kind`` keyed by ``order_id`` (else
``customer_id``), so the default partitioner puts all events of an order in the
same partition of every input topic. A line whose kind cannot be told goes
straight to the dead-letter topic with the reason; everything else is validated
by the worker. Topics are created with the configured partition count first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from cxstream.config import Settings
from cxstream.decoding import DeadLetter, EventDecoder, FileOrigin
from cxstream.jsonl import LineReader

__all__ = ["ProduceResult", "ensure_topics", "kafka_client_options", "produce_files", "route"]

_KINDS = ("feedback", "logistics", "customer")


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """Connection options shared by every aiokafka client cxstream creates."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.broker,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_username and settings.kafka_password:
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_username,
            sasl_plain_password=settings.kafka_password.get_secret_value(),
        )
    return options


async def ensure_topics(settings: Settings) -> None:
    """Create the input, dead-letter, alert, action and correction topics if they do not
    exist yet."""
    admin = AIOKafkaAdminClient(**kafka_client_options(settings))
    await admin.start()
    try:
        names = settings.topics
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, settings.partitions, settings.replication_factor)
            for name in (
                names.feedback,
                names.logistics,
                names.customers,
                names.deadletter,
                names.alerts,
                names.actions,
                names.actions_deadletter,
                names.corrections,
            )
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # created by someone else meanwhile
                await admin.create_topics(wanted)
    finally:
        await admin.close()


def route(raw: bytes, settings: Settings) -> tuple[str, bytes | None] | str:
    """The ``(topic, key)`` a raw line goes to, or the reason it cannot be routed."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"invalid JSON: {exc}"
    if not isinstance(data, dict):
        return "payload must be a JSON object"
    kind = data.get("kind")
    if kind not in _KINDS:
        return f"unknown kind {kind!r}: expected feedback, logistics or customer"
    key = data.get("order_id") or data.get("customer_id")
    return settings.topics.for_kind(kind), str(key).encode("utf-8") if key else None


@dataclass(slots=True)
class ProduceResult:
    sent: dict[str, int] = field(default_factory=dict)
    dead_lettered: int = 0

    @property
    def total(self) -> int:
        return sum(self.sent.values()) + self.dead_lettered


async def produce_files(
    files: Sequence[Path],
    settings: Settings,
    progress: Callable[[int], None] | None = None,
) -> ProduceResult:
    """Send every line of ``files`` to the broker; returns counts per topic."""
    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        **kafka_client_options(settings),
        acks="all",
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=2 * 1024 * 1024,
    )
    await producer.start()
    result = ProduceResult()
    decoder = EventDecoder(settings.max_payload_bytes)
    pending: list[asyncio.Future[Any]] = []
    try:
        for path in files:
            for line_no, raw in LineReader(path):
                target = route(raw, settings)
                if isinstance(target, str):
                    checked = decoder.decode(raw, FileOrigin(str(path), line_no), "produce", 0)
                    reason = checked.error if isinstance(checked, DeadLetter) else target
                    letter = DeadLetter(raw, FileOrigin(str(path), line_no), reason)
                    topic, key, value = settings.topics.deadletter, None, letter.to_json()
                    result.dead_lettered += 1
                else:
                    (topic, key), value = target, raw
                    result.sent[topic] = result.sent.get(topic, 0) + 1
                pending.append(await producer.send(topic, value=value, key=key))
                if len(pending) >= 5000:
                    await asyncio.gather(*pending)
                    pending.clear()
                    if progress is not None:
                        progress(result.total)
        await asyncio.gather(*pending)
        if progress is not None:
            progress(result.total)
    finally:
        await producer.stop()
    return result
