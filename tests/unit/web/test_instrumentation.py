"""The worker's processing loops count into the Metrics they are given.

Ingest runtime: events in per topic, dead letters, batch latency, actions decided.
Detection loop: detection latency, detector scores of firing alerts, actions decided.
Delivery loop: dispatch latency, actions sent, failed and dead-lettered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cxstream.agents.detection import DetectionLoop
from cxstream.agents.runtime import IngestRuntime

from cxstream.alignment import EventTimeAligner
from cxstream.config import Settings
from cxstream.delivery import DeliveryLoop, MemoryScheduledActions
from cxstream.detect_stage import StageResult
from cxstream.engine import Engine, EngineOptions
from cxstream.memory_store import MemoryStateStore
from cxstream.metrics import Metrics
from cxstream.notify.dispatch import DispatchResult
from cxstream.planning import MemoryTaskAcknowledgements
from cxstream.records import ActionRecord, AlertRecord, CorrectionRecord
from cxstream.retry import Backoff
from cxstream.watermarks import MemoryWatermarkStore
from tests.unit.web.helpers import feedback, logistics

AT = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def _action(kind: str = "delay_notice", order: str = "o-1") -> ActionRecord:
    return ActionRecord.model_validate(
        {
            "action_id": f"{kind}:{order}",
            "type": kind,
            "at": AT,
            "rule": "r",
            "order_id": order,
            "customer_id": "c",
        }
    )


class _Planner:
    async def plan(self, outcome: Any, alerts: Any) -> list[ActionRecord]:
        return [_action()]


def _runtime(settings: Settings, send_dead_letters: Any, **options: Any) -> IngestRuntime:
    """An ingest runtime over an in-memory store whose reference streams are caught up."""
    return IngestRuntime(
        settings,
        Engine(MemoryStateStore(), EngineOptions.from_settings(settings)),
        EventTimeAligner(lambda stream: 0),
        send_dead_letters,
        lambda token: None,
        **options,
    )


async def test_the_ingest_runtime_counts_events_dead_letters_batches_and_actions() -> None:
    settings = Settings()
    metrics = Metrics()
    letters: list[tuple[bytes | None, bytes]] = []
    published: list[ActionRecord] = []

    async def send_dead_letters(batch: Sequence[tuple[bytes | None, bytes]]) -> None:
        letters.extend(batch)

    async def publish(actions: Sequence[ActionRecord]) -> None:
        published.extend(actions)

    runtime = _runtime(
        settings,
        send_dead_letters,
        planner=_Planner(),
        publish_actions=publish,
        metrics=metrics,
    )
    topic = settings.topics.logistics
    records = [
        (topic, 0, n, b"o", json.dumps(logistics(f"l-{n}", order_id=f"o-{n}")).encode(), n)
        for n in range(3)
    ]
    records.append((topic, 0, 3, None, b"{not json", 3))
    await runtime.handle(records)
    assert _sample(metrics, "cxstream_events_in_total", topic=topic) == 4
    assert (
        _sample(metrics, "cxstream_deadlettered_total", source="kafka", reason_kind="invalid_json")
        == 1
    )
    assert _sample(metrics, "cxstream_stage_seconds_count", stage="ingest_batch") == 1
    assert _sample(metrics, "cxstream_actions_total", type="delay_notice", outcome="decided") == 1
    assert len(letters) == 1
    assert len(published) == 1


async def test_the_ingest_runtime_counts_events_that_came_late() -> None:
    settings = Settings()
    metrics = Metrics()

    async def ignore(batch: Sequence[Any]) -> None:
        return None

    runtime = _runtime(settings, ignore, metrics=metrics)
    topic = settings.topics.feedback
    answers = [
        feedback("f-noon", ts="2026-03-02T12:00:00Z", order_id=None),
        feedback("f-1159", ts="2026-03-02T11:59:00Z", order_id=None),  # within the lateness
        feedback("f-0900", ts="2026-03-02T09:00:00Z", order_id=None),  # three hours behind
    ]
    for n, answer in enumerate(answers):
        await runtime.handle([(topic, 0, n, b"c-1", json.dumps(answer).encode(), n)])
    assert _sample(metrics, "cxstream_late_events_total") == 1
    assert runtime.stats.as_dict()["late_events"] == 1


def _alert(status: str, score: float) -> AlertRecord:
    return AlertRecord(
        alert_id=f"a-{status}",
        rule="kpi_deviation",
        status=status,  # type: ignore[arg-type]
        at=AT,
        kpi="reason_share:delivery_late",
        segment={"country": "DE"},
        value=0.4,
        expected=0.1,
        score=score,
        severity="critical",
    )


class _Stage:
    owners = (0,)

    def __init__(self) -> None:
        self.committed = 0

    async def advance(self, watermark: datetime) -> StageResult:
        return StageResult(
            alerts=[_alert("firing", 0.97), _alert("resolved", 0.1)],
            actions=[_action("slack_alert", "alert")],
        )

    async def commit(self) -> None:
        self.committed += 1


async def test_the_detection_loop_times_ticks_and_counts_scores_and_actions() -> None:
    metrics = Metrics()
    watermarks = MemoryWatermarkStore()
    await watermarks.advance({"cx.feedback/0": AT.timestamp()})
    published: list[Any] = []

    async def publish(
        alerts: Sequence[AlertRecord],
        actions: Sequence[ActionRecord],
        corrections: Sequence[CorrectionRecord],
    ) -> None:
        published.append((alerts, actions, corrections))

    stage = _Stage()
    loop = DetectionLoop(
        stage,  # type: ignore[arg-type]
        watermarks,
        publish,
        streams=["cx.feedback/0"],
        idle_after_s=5.0,
        backoff=Backoff(0.01, 0.01),
        metrics=metrics,
    )
    await loop.tick({}, lambda stream: False)
    assert stage.committed == 1
    assert len(published) == 1
    assert _sample(metrics, "cxstream_stage_seconds_count", stage="detection") == 1
    assert _sample(metrics, "cxstream_detector_score_count", kpi="reason_share") == 1
    assert _sample(metrics, "cxstream_detector_score_sum", kpi="reason_share") == 0.97
    assert _sample(metrics, "cxstream_actions_total", type="slack_alert", outcome="decided") == 1


class _Dispatcher:
    async def dispatch(self, action: ActionRecord) -> DispatchResult:
        failed = action.order_id == "o-bad"
        return DispatchResult(
            action.action_id, "failed" if failed else "sent", error="smtp down" if failed else None
        )


async def test_the_delivery_loop_counts_sent_failed_and_deadlettered_actions() -> None:
    metrics = Metrics()
    dead: list[dict[str, Any]] = []

    async def send_deadletter(action: ActionRecord, record: dict[str, Any]) -> None:
        dead.append(record)

    loop = DeliveryLoop(
        _Dispatcher(),  # type: ignore[arg-type]
        MemoryScheduledActions(),
        MemoryTaskAcknowledgements(),
        send_deadletter,
        backoff=Backoff(0.01, 0.01),
        metrics=metrics,
    )
    await loop.handle(_action("apology_email", "o-1"))
    await loop.handle(_action("apology_email", "o-bad"))
    sample = _sample
    assert sample(metrics, "cxstream_actions_total", type="apology_email", outcome="sent") == 1
    assert sample(metrics, "cxstream_actions_total", type="apology_email", outcome="failed") == 1
    assert (
        sample(metrics, "cxstream_actions_total", type="apology_email", outcome="deadlettered") == 1
    )
    assert (
        sample(
            metrics, "cxstream_deadlettered_total", source="action", reason_kind="delivery_failed"
        )
        == 1
    )
    assert sample(metrics, "cxstream_stage_seconds_count", stage="dispatch") == 2
    assert len(dead) == 1


def test_the_loops_work_without_metrics_given() -> None:
    settings = Settings()

    async def nothing(*args: Any) -> None:
        return None

    runtime = _runtime(settings, nothing)
    assert isinstance(runtime.metrics, Metrics)
