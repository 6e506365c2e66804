"""The customer action planner: delay notices, apologies and VIP apology tasks.

Pure engine code (no Faust, no notifier): :class:`ActionPlanner` turns each processed
batch (:class:`~cxstream.engine.BatchOutcome`) and the firing alerts into
:class:`~cxstream.records.ActionRecord` s with deterministic ids, deciding each exactly
once however often a batch is run again after a crash.

* :mod:`cxstream.planning.planner`: :class:`ActionPlanner`, what is decided and why;
* :mod:`cxstream.planning.state`: :class:`PlannerState`, its records, in memory
  (:class:`MemoryPlannerState`);
* :mod:`cxstream.planning.redis_state`: the same records in Redis
  (:class:`RedisPlannerState`, keys and TTLs);
* :mod:`cxstream.planning.profiles`: :class:`ProfileReader` for customers the batch did
  not load;
* :mod:`cxstream.planning.tasks`: acknowledging VIP tasks (``cxstream tasks ack``);
* :mod:`cxstream.planning.texts`: a task's order history and suggested apology.
"""

from cxstream.planning.planner import (
    RENOTIFY_WINDOW,
    ActionPlanner,
    NoticeTrigger,
    subject_of,
)
from cxstream.planning.profiles import MemoryProfileReader, ProfileReader, RedisProfileReader
from cxstream.planning.redis_state import RedisPlannerState
from cxstream.planning.state import (
    DEFAULT_RECORD_TTL,
    HISTORY_KEEP,
    FeedbackClaim,
    MemoryPlannerState,
    NoticeClaim,
    PlannerKeys,
    PlannerState,
    fingerprint,
)
from cxstream.planning.tasks import (
    DEFAULT_ACK_TTL,
    Acknowledgement,
    MemoryTaskAcknowledgements,
    RedisTaskAcknowledgements,
    TaskAcknowledgements,
    acknowledge_task,
    acknowledged_key,
)
from cxstream.planning.texts import order_history, suggested_apology

__all__ = [
    "DEFAULT_ACK_TTL",
    "DEFAULT_RECORD_TTL",
    "HISTORY_KEEP",
    "RENOTIFY_WINDOW",
    "Acknowledgement",
    "ActionPlanner",
    "FeedbackClaim",
    "MemoryPlannerState",
    "MemoryProfileReader",
    "MemoryTaskAcknowledgements",
    "NoticeClaim",
    "NoticeTrigger",
    "PlannerKeys",
    "PlannerState",
    "ProfileReader",
    "RedisPlannerState",
    "RedisProfileReader",
    "RedisTaskAcknowledgements",
    "TaskAcknowledgements",
    "acknowledge_task",
    "acknowledged_key",
    "fingerprint",
    "order_history",
    "subject_of",
    "suggested_apology",
]
