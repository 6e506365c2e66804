"""Reading what a test's worker or producer put on a topic of the test broker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

__all__ = ["read_json_values"]


async def read_json_values(
    broker: str,
    topic: str,
    enough: Callable[[list[dict[str, Any]]], bool],
    wait_s: float = 20.0,
) -> list[dict[str, Any]]:
    """The JSON values on ``topic`` from its start, read until ``enough(values)`` holds or
    ``wait_s`` has passed (the caller asserts on what it got)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    values: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + wait_s
        while not enough(values) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                values.extend(json.loads(r.value) for r in records)
    finally:
        await consumer.stop()
    return values
