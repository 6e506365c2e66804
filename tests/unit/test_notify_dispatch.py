"""The dispatcher: routing, once-only delivery, retries within limits, failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from cxstream.clock import ManualClock
from cxstream.notify.base import Delivery, NotifyError, PermanentError, RetryableError
from cxstream.notify.dispatch import ActionDispatcher
from cxstream.notify.idempotency import MemoryIdempotencyStore, SentRecord
from cxstream.notify.settings import DispatchSettings
from cxstream.records import ActionRecord

AT = datetime(2026, 3, 2, 10, tzinfo=UTC)


class Scripted:
    """A notifier that fails as scripted, then delivers."""

    def __init__(self, name: str, failures: list[NotifyError | Exception] | None = None) -> None:
        self.name = name
        self.failures = list(failures or [])
        self.sent: list[tuple[str, Delivery | None]] = []
        self.closed = False

    async def send(self, action: ActionRecord, *, previous: Delivery | None = None) -> Delivery:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((action.action_id, previous))
        return Delivery(notifier=self.name, channel="C1", ts=f"{len(self.sent)}.0")

    async def aclose(self) -> None:
        self.closed = True


class Harness:
    def __init__(self, **settings: Any) -> None:
        self.clock = ManualClock()
        self.waits: list[float] = []
        self.slept = asyncio.Event()
        self.store = MemoryIdempotencyStore(self.clock)
        values: dict[str, Any] = {
            "max_attempts": 4,
            "max_elapsed_s": 100.0,
            "retry_initial_s": 1.0,
            "retry_max_s": 8.0,
        }
        self.settings = DispatchSettings(**(values | settings))

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.slept.set()
        self.clock.advance(seconds)
        await asyncio.sleep(0)

    def dispatcher(self, notifiers: dict[str, Any], **kwargs: Any) -> ActionDispatcher:
        return ActionDispatcher(
            notifiers,
            self.store,
            settings=self.settings,
            clock=self.clock,
            sleep=self.sleep,
            **kwargs,
        )


def action(type_: str = "slack_alert", action_id: str = "a:1", **detail: Any) -> ActionRecord:
    return ActionRecord(action_id=action_id, type=type_, at=AT, rule="r", detail=detail)


async def test_an_action_is_sent_once() -> None:
    h = Harness()
    slack = Scripted("slack")
    d = h.dispatcher({"slack": slack})
    first = await d.dispatch(action())
    second = await d.dispatch(action())
    assert (first.status, second.status) == ("sent", "duplicate")
    assert second.delivery == first.delivery
    assert second.notifier == "slack"
    assert len(slack.sent) == 1


async def test_retryable_failures_are_retried_with_backoff() -> None:
    h = Harness()
    slack = Scripted("slack", [RetryableError("HTTP 503"), RetryableError("timeout")])
    result = await h.dispatcher({"slack": slack}).dispatch(action())
    assert result.status == "sent"
    assert result.attempts == 3
    assert len(h.waits) == 2
    assert 0.5 <= h.waits[0] <= 1.5
    assert 1.0 <= h.waits[1] <= 3.0


async def test_retry_after_is_waited_at_least() -> None:
    h = Harness()
    slack = Scripted("slack", [RetryableError("429", retry_after=30.0)])
    result = await h.dispatcher({"slack": slack}).dispatch(action())
    assert result.status == "sent"
    assert h.waits == [30.0]


async def test_retries_stop_at_max_attempts_and_the_action_is_released() -> None:
    h = Harness(max_attempts=3)
    slack = Scripted("slack", [RetryableError("HTTP 500")] * 5)
    d = h.dispatcher({"slack": slack})
    result = await d.dispatch(action())
    assert result.status == "failed"
    assert result.retryable
    assert result.attempts == 3
    assert result.error == "HTTP 500"
    assert len(h.waits) == 2
    assert await h.store.claim("a:1", "someone-else", 10) is not None
    assert (await h.store.claim("a:2", "x", 10)).status == "claimed"


async def test_retries_stop_at_max_elapsed() -> None:
    h = Harness(max_attempts=100, max_elapsed_s=20.0, retry_initial_s=8.0, retry_max_s=8.0)
    slack = Scripted("slack", [RetryableError("HTTP 500")] * 100)
    result = await h.dispatcher({"slack": slack}).dispatch(action())
    assert result.status == "failed"
    assert result.retryable
    assert sum(h.waits) <= 20.0 + 1e-9
    assert result.attempts <= 5


async def test_a_failed_action_can_be_dispatched_again() -> None:
    h = Harness(max_attempts=1)
    slack = Scripted("slack", [RetryableError("down")])
    d = h.dispatcher({"slack": slack})
    assert (await d.dispatch(action())).status == "failed"
    assert (await d.dispatch(action())).status == "sent"


async def test_permanent_failures_are_not_retried() -> None:
    h = Harness()
    slack = Scripted("slack", [PermanentError("channel_not_found")])
    result = await h.dispatcher({"slack": slack}).dispatch(action())
    assert (result.status, result.retryable, result.attempts) == ("failed", False, 1)
    assert h.waits == []
    record = result.deadletter_record(action())
    assert record == {
        "action": action().as_dict(),
        "notifier": "slack",
        "error": "channel_not_found",
        "retryable": False,
        "attempts": 1,
    }


async def test_unexpected_exceptions_count_as_permanent() -> None:
    h = Harness()
    slack = Scripted("slack", [KeyError("ts")])
    result = await h.dispatcher({"slack": slack}).dispatch(action())
    assert result.status == "failed"
    assert not result.retryable
    assert result.error is not None
    assert "KeyError" in result.error


async def test_skipped_deliveries_are_recorded() -> None:
    class OptedOut(Scripted):
        async def send(self, action: ActionRecord, *, previous: Delivery | None = None) -> Delivery:
            return Delivery(notifier="email", status="skipped", reason="opt_out")

    h = Harness()
    d = h.dispatcher({"email": OptedOut("email")})
    result = await d.dispatch(action("apology_email"))
    assert result.status == "skipped"
    assert (await d.dispatch(action("apology_email"))).status == "duplicate"


async def test_routing_by_receiver_type_and_fallback() -> None:
    h = Harness()
    slack, email, hook, folder = (Scripted(n) for n in ("slack", "email", "hook", "folder"))
    d = h.dispatcher(
        {"slack": slack, "email": email, "hook": hook},
        receivers={"ops-de": "hook"},
    )
    assert d.notifier_for(action("slack_alert")) is slack
    assert d.notifier_for(action("slack_alert", receiver="ops-de")) is hook
    assert d.notifier_for(action("slack_alert", receiver="hook")) is hook
    assert d.notifier_for(action("slack_alert", receiver="unknown")) is slack
    assert d.notifier_for(action("delay_notice")) is email
    assert d.notifier_for(action("digest")) is None
    unrouted = await d.dispatch(action("digest"))
    assert unrouted.status == "unrouted"
    assert await h.store.get("a:1") is None
    only_folder = h.dispatcher({"folder": folder}, fallback="folder")
    assert only_folder.notifier_for(action("vip_apology_task")) is folder
    await d.aclose()
    assert slack.closed
    assert email.closed
    assert hook.closed


async def test_a_resolved_group_gets_the_firing_delivery() -> None:
    h = Harness()
    slack = Scripted("slack")
    d = h.dispatcher({"slack": slack})
    firing = await d.dispatch(action(action_id="slack:firing"))
    resolved = await d.dispatch(action(action_id="slack:resolved", update_of="slack:firing"))
    assert resolved.status == "sent"
    assert slack.sent[1] == ("slack:resolved", firing.delivery)
    missing = await d.dispatch(action(action_id="slack:other", update_of="slack:never"))
    assert missing.status == "sent"
    assert slack.sent[2] == ("slack:other", None)


async def test_a_leased_action_waits_for_the_other_dispatcher() -> None:
    h = Harness()
    await h.store.claim("a:1", "other-worker", lease_s=5.0)
    slack = Scripted("slack")
    d = h.dispatcher({"slack": slack}, poll_s=1.0)

    async def other_finishes() -> None:
        await h.slept.wait()
        delivery = Delivery(notifier="slack", channel="C9", ts="9.9")
        await h.store.record("a:1", SentRecord(state="sent", delivery=delivery, at=AT), 60)

    result, _ = await asyncio.gather(d.dispatch(action()), other_finishes())
    assert result.status == "duplicate"
    assert result.delivery is not None
    assert result.delivery.ts == "9.9"
    assert slack.sent == []


async def test_an_expired_lease_is_taken_over() -> None:
    h = Harness()
    await h.store.claim("a:1", "crashed-worker", lease_s=3.0)
    slack = Scripted("slack")
    result = await h.dispatcher({"slack": slack}, poll_s=1.0).dispatch(action())
    assert result.status == "sent"
    assert h.waits == [1.0, 1.0, 1.0]


async def test_a_lease_held_beyond_the_limit_is_reported() -> None:
    h = Harness(max_elapsed_s=3.0)
    await h.store.claim("a:1", "stuck", lease_s=1000.0)
    result = await h.dispatcher({"slack": Scripted("slack")}, poll_s=1.0).dispatch(action())
    assert result.status == "failed"
    assert result.retryable
    assert result.error is not None
    assert "leased" in result.error


async def test_memory_store_leases_and_ttls() -> None:
    clock = ManualClock()
    store = MemoryIdempotencyStore(clock)
    assert (await store.claim("x", "a", 10)).status == "claimed"
    assert (await store.claim("x", "b", 10)).status == "busy"
    assert await store.get("x") is None
    assert not await store.extend("x", "b", 10)
    assert await store.extend("x", "a", 20)
    clock.advance(15)
    assert (await store.claim("x", "b", 10)).status == "busy"
    await store.release("x", "b")  # not b's lease: kept
    assert (await store.claim("x", "b", 10)).status == "busy"
    await store.release("x", "a")
    record = SentRecord(state="sent", delivery=Delivery(notifier="n"), at=AT)
    await store.record("x", record, ttl_s=5)
    claim = await store.claim("x", "c", 10)
    assert claim.status == "done"
    assert claim.record == record
    clock.advance(5)
    assert await store.get("x") is None


@pytest.mark.parametrize("error", [RetryableError("x"), PermanentError("y")])
def test_errors_say_whether_to_retry(error: NotifyError) -> None:
    assert error.retryable is isinstance(error, RetryableError)
