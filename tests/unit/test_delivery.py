"""Delivery: held until allowed, acknowledged reminders skipped, failures dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cxstream.clock import ManualClock
from cxstream.delivery import DeliveryLoop, MemoryScheduledActions
from cxstream.delivery_settings import DispatchSettings, SmtpSettings
from cxstream.notify.contacts import Contact, DictContactDirectory
from cxstream.notify.dispatch import ActionDispatcher
from cxstream.notify.folder import FolderNotifier
from cxstream.notify.idempotency import MemoryIdempotencyStore
from cxstream.notify.mail import EmailComposer
from cxstream.planning import MemoryTaskAcknowledgements
from cxstream.records import ActionRecord, action_id
from cxstream.retry import Backoff

NOW = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)


def _apology(order: str, **detail: Any) -> ActionRecord:
    return ActionRecord(
        action_id=action_id("apology", f"order:{order}"),
        type="apology_email",
        at=NOW,
        rule="apology",
        order_id=order,
        customer_id="c1",
        detail={"template": "apology", "language": "en", "reasons": [], "score": 2, **detail},
    )


def _loop(tmp_path: Path, clock: ManualClock) -> tuple[DeliveryLoop, list[Any]]:
    contacts = DictContactDirectory([Contact("c1", email="c1@example.com")])
    folder = FolderNotifier(
        tmp_path, EmailComposer(SmtpSettings(from_address="s@shop.test")), contacts=contacts
    )
    dispatcher = ActionDispatcher(
        {"folder": folder},
        MemoryIdempotencyStore(),
        settings=DispatchSettings(),
        fallback="folder",
    )
    dead: list[Any] = []

    async def send_deadletter(action: ActionRecord, record: dict[str, Any]) -> None:
        dead.append(record)

    loop = DeliveryLoop(
        dispatcher,
        MemoryScheduledActions(),
        MemoryTaskAcknowledgements(),
        send_deadletter,
        backoff=Backoff(0.01, 0.01),
        clock=clock,
    )
    return loop, dead


async def test_an_action_for_quiet_hours_is_held_until_its_time_then_sent_once(
    tmp_path: Path,
) -> None:
    clock = ManualClock(wall=NOW)
    loop, _ = _loop(tmp_path, clock)
    morning = NOW + timedelta(hours=9)
    action = _apology("o1", not_before=morning.isoformat())
    await loop.handle(action)
    assert list(tmp_path.glob("*.eml")) == []
    assert await loop.release_due() == 0
    clock.advance(9 * 3600)
    assert await loop.release_due() == 1
    assert len(list(tmp_path.glob("*.eml"))) == 1
    await loop.handle(action)  # the outbox delivers it again: recorded, not sent twice
    assert loop.counts["sent"] == 1
    assert loop.counts["duplicate"] == 1


async def test_an_acknowledged_task_gets_no_reminder(tmp_path: Path) -> None:
    clock = ManualClock(wall=NOW)
    loop, _ = _loop(tmp_path, clock)
    task = action_id("vip", "order:o1")
    await loop.acknowledgements.acknowledge(task, by="lead", at=NOW)
    reminder = ActionRecord(
        action_id=action_id("vip", "order:o1", "renotify-1"),
        type="vip_apology_task",
        at=NOW,
        rule="vip",
        detail={"renotify": True, "task_id": task},
    )
    await loop.handle(reminder)
    assert loop.counts == {"acknowledged": 1}


async def test_an_undeliverable_action_goes_to_the_dead_letters_with_its_error(
    tmp_path: Path,
) -> None:
    clock = ManualClock(wall=NOW)
    loop, dead = _loop(tmp_path, clock)
    broken = _apology("o2", template="no_such_template")  # a rule naming a missing template
    await loop.handle(broken)
    assert loop.counts["failed"] == 1
    (record,) = dead
    assert record["action"]["action_id"] == broken.action_id
    assert record["error"]
