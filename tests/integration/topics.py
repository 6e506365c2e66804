"""Reading what a test's worker or producer put on a topic of the test broker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

__all__ = ["read_json_values", "read_records"]


async def read_records(
    broker: str,
    topic: str,
    enough: Callable[[list[tuple[bytes | None, bytes]]], bool],
    wait_s: float = 20.0,
) -> list[tuple[bytes | None, bytes]]:
    """The ``(key, value)`` records on ``topic`` from its start, read until
    ``enough(records)`` holds or ``wait_s`` has passed (the caller asserts on what it got)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[tuple[bytes | None, bytes]] = []
    try:
        deadline = time.monotonic() + wait_s
        while not enough(records) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for found in batch.values():
                records.extend((r.key, r.value) for r in found)
    finally:
        await consumer.stop()
    return records


async def read_json_values(
    broker: str,
    topic: str,
    enough: Callable[[list[dict[str, Any]]], bool],
    wait_s: float = 20.0,
) -> list[dict[str, Any]]:
    """The JSON values on ``topic`` from its start, read until ``enough(values)`` holds or
    ``wait_s`` has passed (the caller asserts on what it got)."""
    values: list[dict[str, Any]] = []

    def enough_records(records: list[tuple[bytes | None, bytes]]) -> bool:
        values.extend(json.loads(value) for _, value in records[len(values) :])
        return enough(values)

    await read_records(broker, topic, enough_records, wait_s)
    return values
