"""Settings for a worker under test: its own topics, group and key prefix, fast timeouts."""

from __future__ import annotations

import uuid
from typing import Any

from cxstream.config import Settings, TopicNames

__all__ = ["worker_test_settings"]


def worker_test_settings(kafka: str, redis_url: str, **overrides: Any) -> Settings:
    """Unique topic, group and key names, so tests sharing a broker and Redis never meet;
    group timeouts low enough for a test broker; ``overrides`` on top."""
    uid = uuid.uuid4().hex[:10]
    names = {name: f"{uid}.{name.replace('_', '.')}" for name in TopicNames.model_fields}
    options: dict[str, Any] = {
        "broker": kafka,
        "redis_url": redis_url,
        "app_id": f"cxtest-{uid}",
        "key_prefix": f"t{uid}",
        "partitions": 4,
        "topics": TopicNames(**names),
        "session_timeout_s": 2.0,
        "rebalance_timeout_s": 4.0,
        "batch_size": 500,
        "retry_max_s": 1.0,
        "join_hold_s": 15.0,
        "join_grace_s": 3.0,
        "idle_after_s": 2.0,
    }
    options.update(overrides)
    return Settings(**options)
