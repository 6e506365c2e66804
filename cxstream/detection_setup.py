"""Build the detection stage that fits a state store and the settings.

The worker and ``cxstream replay`` both call :func:`detection_stage`, so they watch
the same KPIs with the same windows and detectors. Model checkpoints go where the
state goes: into the same Redis for a Redis store, into memory otherwise.
"""

from __future__ import annotations

from datetime import timedelta

from cxstream.checkpoints import CheckpointStore, MemoryCheckpointStore, RedisCheckpointStore
from cxstream.config import Settings
from cxstream.detect_stage import DetectionStage, Watch, default_watches
from cxstream.redis_store import RedisStateStore
from cxstream.store import StateStore

__all__ = ["checkpoint_store_for", "detection_stage", "watches_for"]


def checkpoint_store_for(settings: Settings, store: StateStore) -> CheckpointStore:
    """Checkpoints beside the state: the store's Redis, or this process's memory."""
    if isinstance(store, RedisStateStore):
        return RedisCheckpointStore(store.client, settings.key_prefix)
    return MemoryCheckpointStore()


def watches_for(settings: Settings) -> list[Watch]:
    """What to watch under these settings."""
    return default_watches(settings.bucket_seconds, timedelta(seconds=settings.allowed_lateness_s))


def detection_stage(
    settings: Settings,
    store: StateStore,
    checkpoints: CheckpointStore | None = None,
    watches: list[Watch] | None = None,
) -> DetectionStage:
    """The detection stage over ``store`` for these settings."""
    return DetectionStage(
        store,
        checkpoints if checkpoints is not None else checkpoint_store_for(settings, store),
        watches if watches is not None else watches_for(settings),
        partitions=settings.partitions,
    )
