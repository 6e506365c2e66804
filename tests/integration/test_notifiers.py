"""The notifiers against local servers speaking the real protocols, and the dispatcher
with the Redis idempotency store."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from cxstream.keys import KeyLayout
from cxstream.notify import (
    ActionDispatcher,
    Contact,
    DictContactDirectory,
    DispatchSettings,
    EmailNotifier,
    MemoryIdempotencyStore,
    RedisContactDirectory,
    RedisIdempotencyStore,
    SlackNotifier,
    SlackSettings,
    SmtpSettings,
    WebhookNotifier,
    WebhookSettings,
)
from cxstream.notify.mail import EmailComposer
from cxstream.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from cxstream.partitioning import partition_for
from cxstream.profiles import CustomerProfile
from cxstream.records import ActionRecord, AlertRecord, action_id, alert_id
from tests.servers.slack_api import TEST_TOKEN as SLACK_TOKEN
from tests.servers.slack_api import UPLOAD, FakeSlackServer
from tests.servers.smtp import SmtpServer
from tests.servers.webhook import WebhookReceiver

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CUSTOMER_EMAIL = "jane.doe@example.com"


class Waits:
    """A sleep that returns at once and remembers how long it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def _alert(status: str = "firing", *, kpi: str = "nps", value: float = 21.0) -> AlertRecord:
    return AlertRecord(
        alert_id=alert_id("kpi", "country=DE,channel=app", kpi, T0),
        rule="kpi",
        status=status,
        at=T0 + timedelta(hours=1 if status == "firing" else 5),
        kpi=kpi,
        segment={"country": "DE", "channel": "app"},
        value=value,
        expected=38.0,
        score=0.93,
        severity="critical",
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        band_low=30.0,
        band_high=46.0,
        volume=412,
        evidence={
            "reasons": [{"code": "app_scan_failed", "share": 0.24, "baseline_share": 0.03}],
            "late_detractor_share": 0.12,
        },
    )


def _history(alert: AlertRecord, anomalous_from: int = 20) -> dict[str, Any]:
    rows = []
    for h in range(24):
        at = T0 - timedelta(hours=23 - h)
        bad = h >= anomalous_from
        rows.append([at.isoformat(), 21.0 if bad else 38.0 + (h % 3), 38.0, 30.0, 46.0, bad])
    return {alert.alert_id: rows}


def slack_alert_action(status: str = "firing", **extra: Any) -> ActionRecord:
    alert = _alert(status, value=21.0 if status == "firing" else 37.5)
    group = "kpi/DE/app"
    firing_id = action_id("slack", f"group:{group}", "firing")
    detail = {
        "receiver": "ops",
        "channel": "#ops-alerts",
        "group_key": group,
        "status": status,
        "alerts": [alert.as_dict()],
        "history": _history(alert),
        "report_url": "https://reports.shop.example/cx/DE-app",
        "update_of": firing_id if status == "resolved" else None,
        **extra,
    }
    return ActionRecord(
        action_id=firing_id if status == "firing" else action_id("slack", f"group:{group}", status),
        type="slack_alert",
        at=alert.at,
        rule="kpi",
        detail=detail,
    )


def vip_action(renotify: bool = False) -> ActionRecord:
    return ActionRecord(
        action_id=action_id("vip", "order:o-77", "renotify" if renotify else ""),
        type="vip_apology_task",
        at=T0,
        rule="vip",
        order_id="o-77",
        customer_id="c-vip-9",
        detail={
            "receiver": "support-leads",
            "channel": "vip-care",
            "score": 2,
            "reasons": ["delivery_late", "delivery_damaged"],
            "segment": "vip",
            "language": "de",
            "order_history": [
                [(T0 - timedelta(days=3)).isoformat(), "order_placed", None],
                [(T0 - timedelta(days=2)).isoformat(), "shipped", "dhl"],
                [(T0 - timedelta(days=1)).isoformat(), "delivery_exception", "weather"],
                [T0.isoformat(), "delivered", f"left with neighbour, asked {CUSTOMER_EMAIL}"],
            ],
            "suggested_apology": f"Liebe Frau Doe, es tut uns leid ... (reply to {CUSTOMER_EMAIL})",
            "sla_due": (T0 + timedelta(hours=4)).isoformat(),
            "renotify": renotify,
            "email": CUSTOMER_EMAIL,
        },
    )


def email_action(
    kind: str = "apology_email", *, language: str = "de", customer: str = "c-1", **detail: Any
) -> ActionRecord:
    if kind == "delay_notice":
        body: dict[str, Any] = {
            "template": "delay_notice",
            "language": language,
            "promised_date": "2026-03-03",
            "eta": "2026-03-05T12:00:00+00:00",
            "carrier": "dhl",
            "reason": "weather",
        }
    else:
        body = {
            "template": "apology_delivery",
            "language": language,
            "reasons": ["delivery_late"],
            "score": 3,
            "delay_notice_sent": False,
            "voucher": "SORRY-10",
        }
    body.update(detail)
    return ActionRecord(
        action_id=action_id(kind, f"order:o-{customer}-{language}", uuid.uuid4().hex[:6]),
        type=kind,
        at=T0,
        rule=kind,
        order_id=f"o-{customer}",
        customer_id=customer,
        detail=body,
    )


def slack_notifier(server: FakeSlackServer, waits: Waits | None = None) -> SlackNotifier:
    settings = SlackSettings(token=SLACK_TOKEN, base_url=server.base_url, timeout_s=5)
    return SlackNotifier(settings, sleep=waits or Waits())


def smtp_settings(server: SmtpServer) -> SmtpSettings:
    return SmtpSettings(
        host=server.host,
        port=server.port,
        security="none",
        timeout_s=5,
        from_address="service@shop.example",
        from_name="Shop Service",
        brand="Musterladen",
    )


def fast_dispatch(**overrides: Any) -> DispatchSettings:
    values: dict[str, Any] = {"max_attempts": 5, "retry_initial_s": 0.01, "retry_max_s": 0.05}
    values.update(overrides)
    return DispatchSettings(**values)


# -- Slack ---------------------------------------------------------------------------


async def test_alert_posted_with_chart_then_updated_in_place_on_resolve(
    slack_server: FakeSlackServer,
) -> None:
    notifier = slack_notifier(slack_server)
    dispatcher = ActionDispatcher(
        {"slack": notifier}, MemoryIdempotencyStore(), settings=fast_dispatch()
    )
    try:
        assert (await notifier.auth_test())["ok"] is True
        firing = await dispatcher.dispatch(slack_alert_action("firing"))
        resolved = await dispatcher.dispatch(slack_alert_action("resolved"))
    finally:
        await dispatcher.aclose()

    assert firing.status == "sent"
    assert firing.delivery is not None
    assert firing.delivery.channel == "C0OPS"
    assert firing.delivery.ts
    [post] = slack_server.succeeded("chat.postMessage")
    blocks = post.args["blocks"]
    header = blocks[0]["text"]["text"]
    assert "CRITICAL" in header
    assert "NPS" in header
    assert "DE / app" in header
    everything = json.dumps(blocks)
    for shown in (
        "21.0",
        "38.0",
        "band 30.0 to 46.0",
        "412",
        "0.93",
        "app_scan_failed",
        "24.0%",
        "baseline 3.0%",
        "12.0%",
        "https://reports.shop.example/cx/DE-app",
    ):
        assert shown in everything, shown

    # the chart went through the three-step external upload, into the message's thread
    assert len(slack_server.calls_of("files.getUploadURLExternal")) == 2  # firing, resolved
    assert len(slack_server.calls_of(UPLOAD)) == 2
    first = slack_server.files[firing.delivery.files[0]]
    assert first.completed
    assert first.data is not None
    assert first.data.startswith(PNG_MAGIC)
    assert first.length == len(first.data) < 100_000
    assert (first.channel, first.thread_ts) == ("C0OPS", firing.delivery.ts)

    # resolved: the same message, updated; no second post
    assert resolved.status == "sent"
    assert resolved.delivery is not None
    assert resolved.delivery.updated
    assert resolved.delivery.ts == firing.delivery.ts
    assert len(slack_server.calls_of("chat.postMessage")) == 1
    [update] = slack_server.succeeded("chat.update")
    assert update.args["ts"] == firing.delivery.ts
    current = slack_server.messages[("C0OPS", firing.delivery.ts)]
    assert "RESOLVED" in current["blocks"][0]["text"]["text"]

    # the token travels only in the Authorization header
    for call in slack_server.calls:
        assert SLACK_TOKEN.encode() not in call.body
    assert all(
        c.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
        for c in slack_server.calls
        if c.method != UPLOAD
    )


async def test_rate_limit_then_server_error_then_success_posts_once(
    slack_server: FakeSlackServer,
) -> None:
    slack_server.script("chat.postMessage", status=429, retry_after=2)
    slack_server.script("chat.postMessage", status=500)
    waits = Waits()
    notifier = slack_notifier(slack_server, waits)
    action = slack_alert_action("firing", history={})
    try:
        delivery = await notifier.send(action)
    finally:
        await notifier.aclose()
    assert delivery.ts is not None
    assert [c.status for c in slack_server.calls_of("chat.postMessage")] == [429, 500, 200]
    assert len(slack_server.messages) == 1
    assert waits.waits[0] == 2.0  # Retry-After honoured
    assert len(waits.waits) == 2


async def test_rate_limit_beyond_the_client_budget_is_handed_to_the_dispatcher(
    slack_server: FakeSlackServer,
) -> None:
    slack_server.script("chat.postMessage", status=429, retry_after=120)
    waits = Waits()
    notifier = slack_notifier(slack_server, waits)
    dispatcher = ActionDispatcher(
        {"slack": notifier}, MemoryIdempotencyStore(), settings=fast_dispatch(), sleep=waits
    )
    try:
        result = await dispatcher.dispatch(slack_alert_action("firing", history={}))
    finally:
        await dispatcher.aclose()
    assert result.status == "sent"
    assert result.attempts == 2
    assert 120.0 in waits.waits  # the dispatcher waited out Retry-After
    assert len(slack_server.messages) == 1


async def test_vip_task_shows_customer_id_and_never_the_address(
    slack_server: FakeSlackServer,
) -> None:
    notifier = slack_notifier(slack_server)
    try:
        first = await notifier.send(vip_action())
        again = await notifier.send(vip_action(renotify=True))
    finally:
        await notifier.aclose()
    assert first.channel == again.channel == "C0VIP"
    posts = slack_server.succeeded("chat.postMessage")
    assert len(posts) == 2
    for post in posts:
        body = post.body.decode()
        assert CUSTOMER_EMAIL not in body
        assert "@example.com" not in body
        assert SLACK_TOKEN not in body
        assert "c-vip-9" in body
        assert "o-77" in body
        for shown in (
            "2/10",
            "delivery_late",
            "delivery_exception",
            "weather",
            "Suggested apology",
            "Liebe Frau Doe",
            "2026-03-02 13:00 UTC",
        ):
            assert shown in body, shown
    assert "Overdue" in posts[1].args["blocks"][0]["text"]["text"]
    assert "Overdue" not in posts[0].args["blocks"][0]["text"]["text"]


async def test_unknown_channel_fails_at_once(slack_server: FakeSlackServer) -> None:
    notifier = slack_notifier(slack_server)
    dispatcher = ActionDispatcher({"slack": notifier}, MemoryIdempotencyStore())
    action = slack_alert_action("firing", channel="#nowhere")
    try:
        result = await dispatcher.dispatch(action)
    finally:
        await dispatcher.aclose()
    assert result.status == "failed"
    assert not result.retryable
    assert result.attempts == 1
    assert result.error is not None
    assert "channel_not_found" in result.error
    record = result.deadletter_record(action)
    assert record["action"]["action_id"] == action.action_id
    assert "channel_not_found" in record["error"]


async def test_wrong_token_is_a_permanent_failure(slack_server: FakeSlackServer) -> None:
    settings = SlackSettings(token="xoxb-wrong", base_url=slack_server.base_url)
    dispatcher = ActionDispatcher({"slack": SlackNotifier(settings)}, MemoryIdempotencyStore())
    try:
        result = await dispatcher.dispatch(vip_action())
    finally:
        await dispatcher.aclose()
    assert result.status == "failed"
    assert not result.retryable
    assert result.error is not None
    assert "invalid_auth" in result.error


async def test_failed_chart_upload_keeps_the_posted_message(
    slack_server: FakeSlackServer,
) -> None:
    slack_server.script(UPLOAD, status=500, times=10)
    notifier = slack_notifier(slack_server)
    dispatcher = ActionDispatcher({"slack": notifier}, MemoryIdempotencyStore())
    try:
        result = await dispatcher.dispatch(slack_alert_action("firing"))
    finally:
        await dispatcher.aclose()
    assert result.status == "sent"
    assert result.delivery is not None
    assert result.delivery.files == ()
    assert result.delivery.warnings
    assert len(slack_server.calls_of("chat.postMessage")) == 1


# -- email ---------------------------------------------------------------------------


async def test_emails_in_german_and_english_with_both_parts(smtp_server: SmtpServer) -> None:
    contacts = DictContactDirectory(
        [
            Contact("c-1", email=CUSTOMER_EMAIL, name="Jane Doe", language="de"),
            Contact("c-2", email="john@example.org", name="John", language="en"),
        ]
    )
    notifier = EmailNotifier(smtp_settings(smtp_server), contacts)
    apology = email_action("apology_email", language="de", customer="c-1")
    notice = email_action("delay_notice", language="en", customer="c-2")
    first = await notifier.send(apology)
    second = await notifier.send(notice)
    assert notifier.pool is not None
    assert notifier.pool.opened == 1  # the second message reused the connection
    await notifier.aclose()

    mails = smtp_server.messages()
    assert len(mails) == 2
    de, en = mails
    assert [r.rcpt_tos for r in smtp_server.received] == [[CUSTOMER_EMAIL], ["john@example.org"]]
    assert de["Subject"] == "Entschuldigung für die Lieferung Ihrer Bestellung o-c-1"
    assert en["Subject"] == "Your order o-c-2 will arrive later than planned"
    for mail in (de, en):
        assert mail.get_content_type() == "multipart/alternative"
        types = [part.get_content_type() for part in mail.iter_parts()]
        assert types == ["text/plain", "text/html"]
    de_text = de.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    de_html = de.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Hallo Jane Doe" in de_text
    assert "SORRY-10" in de_text
    assert "SORRY-10" in de_html
    assert "die Lieferung kam zu spät" in de_text
    en_text = en.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "3 March 2026" in en_text
    assert "5 March 2026" in en_text
    assert "DHL" in en_text

    composer = EmailComposer(smtp_settings(smtp_server))
    assert de["Message-ID"] == first.message_id == composer.message_id(apology.action_id)
    assert en["Message-ID"] == second.message_id == composer.message_id(notice.action_id)
    assert first.recipient_domain == "example.com"


async def test_customer_who_opted_out_after_the_decision_gets_nothing(
    smtp_server: SmtpServer,
) -> None:
    contacts = DictContactDirectory([Contact("c-1", email=CUSTOMER_EMAIL, language="de")])
    store = MemoryIdempotencyStore()
    dispatcher = ActionDispatcher(
        {"email": EmailNotifier(smtp_settings(smtp_server), contacts)}, store
    )
    action = email_action("delay_notice")
    contacts.put(Contact("c-1", email=CUSTOMER_EMAIL, language="de", opt_out=True))
    result = await dispatcher.dispatch(action)
    assert result.status == "skipped"
    assert result.delivery is not None
    assert result.delivery.reason == "opt_out"
    assert smtp_server.received == []
    record = await store.get(action.action_id)
    assert record is not None
    assert record.state == "skipped"


async def test_smtp_down_then_up_delivers_once(smtp_server: SmtpServer) -> None:
    smtp_server.stop()
    waits: list[float] = []

    async def wait_and_restart(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            await asyncio.to_thread(smtp_server.start)

    contacts = DictContactDirectory([Contact("c-1", email=CUSTOMER_EMAIL, language="en")])
    dispatcher = ActionDispatcher(
        {"email": EmailNotifier(smtp_settings(smtp_server), contacts)},
        MemoryIdempotencyStore(),
        settings=fast_dispatch(),
        sleep=wait_and_restart,
    )
    action = email_action("apology_email", language="en")
    result = await dispatcher.dispatch(action)
    again = await dispatcher.dispatch(action)
    assert result.status == "sent"
    assert result.attempts == 3
    assert again.status == "duplicate"
    assert len(smtp_server.received) == 1
    assert len(waits) == 2
    assert waits[1] >= waits[0]
    await dispatcher.aclose()


async def test_kept_connection_closed_by_a_server_restart_is_replaced(
    smtp_server: SmtpServer,
) -> None:
    contacts = DictContactDirectory([Contact("c-1", email=CUSTOMER_EMAIL, language="en")])
    notifier = EmailNotifier(smtp_settings(smtp_server), contacts)
    dispatcher = ActionDispatcher(
        {"email": notifier}, MemoryIdempotencyStore(), settings=fast_dispatch(), sleep=Waits()
    )
    assert (await dispatcher.dispatch(email_action())).status == "sent"
    await asyncio.to_thread(smtp_server.stop)
    await asyncio.to_thread(smtp_server.start)
    again = await dispatcher.dispatch(email_action())
    await dispatcher.aclose()
    assert again.status == "sent"
    assert len(smtp_server.received) == 2
    assert notifier.pool is not None
    assert notifier.pool.opened == 2


async def test_refused_recipient_is_permanent_and_deferred_is_retried(
    smtp_server: SmtpServer,
) -> None:
    contacts = DictContactDirectory(
        [
            Contact("c-1", email="gone@example.com", language="en"),
            Contact("c-2", email="busy@example.com", language="en"),
        ]
    )
    smtp_server.refuse.add("gone@example.com")
    smtp_server.defer.add("busy@example.com")
    dispatcher = ActionDispatcher(
        {"email": EmailNotifier(smtp_settings(smtp_server), contacts)},
        MemoryIdempotencyStore(),
        settings=fast_dispatch(max_attempts=3),
        sleep=Waits(),
    )
    refused = await dispatcher.dispatch(email_action(customer="c-1"))
    deferred = await dispatcher.dispatch(email_action(customer="c-2"))
    assert refused.status == "failed"
    assert not refused.retryable
    assert refused.attempts == 1
    assert refused.error is not None
    assert "550" in refused.error
    assert deferred.status == "failed"
    assert deferred.retryable
    assert deferred.attempts == 3
    assert smtp_server.received == []


# -- webhook -------------------------------------------------------------------------


async def test_webhook_is_signed_and_retried_after_server_errors(
    webhook_server: WebhookReceiver,
) -> None:
    secret = "whsec-test-1234"
    notifier = WebhookNotifier(WebhookSettings(url=webhook_server.url, secret=secret))
    webhook_server.fail_next(2, status=503)
    dispatcher = ActionDispatcher(
        {"webhook": notifier},
        MemoryIdempotencyStore(),
        settings=fast_dispatch(),
        sleep=Waits(),
        routes={"digest": "webhook"},
    )
    action = ActionRecord(
        action_id=action_id("digest", "day:2026-03-02"),
        type="digest",
        at=T0,
        rule="digest",
        detail={"receiver": "webhook", "summary": "3 alerts"},
    )
    try:
        result = await dispatcher.dispatch(action)
    finally:
        await dispatcher.aclose()
    assert result.status == "sent"
    assert result.attempts == 3
    assert [r.status for r in webhook_server.requests] == [503, 503, 204]
    [delivered] = webhook_server.delivered
    assert json.loads(delivered.body) == action.as_dict()
    assert delivered.headers["Idempotency-Key"] == action.action_id
    assert verify_signature(
        delivered.body,
        delivered.headers[TIMESTAMP_HEADER],
        delivered.headers[SIGNATURE_HEADER],
        secret,
    )
    assert not verify_signature(
        delivered.body,
        delivered.headers[TIMESTAMP_HEADER],
        delivered.headers[SIGNATURE_HEADER],
        "another-secret",
    )
    assert secret.encode() not in delivered.body


async def test_webhook_client_error_is_permanent(webhook_server: WebhookReceiver) -> None:
    webhook_server.fail_next(1, status=400)
    notifier = WebhookNotifier(WebhookSettings(url=webhook_server.url, secret="s"))
    dispatcher = ActionDispatcher({"webhook": notifier}, MemoryIdempotencyStore())
    try:
        result = await dispatcher.dispatch(email_action())
    finally:
        await dispatcher.aclose()
    assert result.status == "unrouted"
    dispatcher = ActionDispatcher(
        {"webhook": notifier}, MemoryIdempotencyStore(), fallback="webhook"
    )
    try:
        result = await dispatcher.dispatch(email_action())
    finally:
        await dispatcher.aclose()
    assert result.status == "failed"
    assert not result.retryable
    assert result.attempts == 1
    assert result.error == "webhook webhook: HTTP 400"


# -- with Redis ----------------------------------------------------------------------


async def test_action_dispatched_twice_is_sent_once_with_redis(
    smtp_server: SmtpServer, slack_server: FakeSlackServer, redis_client: aioredis.Redis
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    contacts = DictContactDirectory([Contact("c-1", email=CUSTOMER_EMAIL, language="de")])
    store = RedisIdempotencyStore(redis_client, key_prefix=prefix)

    def dispatcher(owner: str) -> ActionDispatcher:
        return ActionDispatcher(
            {
                "email": EmailNotifier(smtp_settings(smtp_server), contacts),
                "slack": slack_notifier(slack_server),
            },
            store,
            owner=owner,
            poll_s=0.05,
        )

    one, two = dispatcher("worker-1"), dispatcher("worker-2")
    try:
        mail = email_action()
        first = await one.dispatch(mail)
        second = await two.dispatch(mail)
        assert (first.status, second.status) == ("sent", "duplicate")
        assert second.delivery == first.delivery

        # at the same time, from two dispatchers: still one message
        other = email_action()
        results = await asyncio.gather(one.dispatch(other), two.dispatch(other))
        assert sorted(r.status for r in results) == ["duplicate", "sent"]
        assert len(smtp_server.received) == 2

        # the resolved alert finds the firing message through the store
        firing = await one.dispatch(slack_alert_action("firing", history={}))
        resolved = await two.dispatch(slack_alert_action("resolved", history={}))
        assert firing.delivery is not None
        assert resolved.delivery is not None
        assert resolved.delivery.updated
        assert resolved.delivery.ts == firing.delivery.ts
        assert len(slack_server.calls_of("chat.postMessage")) == 1

        key = store.key(mail.action_id)
        assert key.startswith(f"{prefix}:{{act:")
        ttl = await redis_client.ttl(key)
        assert 0 < ttl <= DispatchSettings().idempotency_ttl_hours * 3600
        stored = json.loads(str(await redis_client.get(key)))
        assert stored["state"] == "sent"
        assert stored["delivery"]["message_id"] == first.delivery.message_id  # type: ignore[union-attr]
        assert CUSTOMER_EMAIL not in json.dumps(stored)
    finally:
        await one.aclose()
        await two.aclose()
        keys = [k async for k in redis_client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis_client.delete(*keys)


async def test_failed_action_is_released_for_a_later_attempt_with_redis(
    smtp_server: SmtpServer, redis_client: aioredis.Redis
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    contacts = DictContactDirectory([Contact("c-1", email="busy@example.com", language="de")])
    smtp_server.defer.add("busy@example.com")
    store = RedisIdempotencyStore(redis_client, key_prefix=prefix)
    dispatcher = ActionDispatcher(
        {"email": EmailNotifier(smtp_settings(smtp_server), contacts)},
        store,
        settings=fast_dispatch(max_attempts=2),
        sleep=Waits(),
    )
    action = email_action()
    failed = await dispatcher.dispatch(action)
    assert failed.status == "failed"
    assert failed.retryable
    assert await redis_client.get(store.key(action.action_id)) is None
    smtp_server.defer.clear()
    assert (await dispatcher.dispatch(action)).status == "sent"
    await dispatcher.aclose()
    await redis_client.delete(store.key(action.action_id))


async def test_contacts_are_read_from_the_engine_profiles_in_redis(
    smtp_server: SmtpServer, redis_client: aioredis.Redis
) -> None:
    prefix, partitions = f"t{uuid.uuid4().hex[:8]}", 8
    key = KeyLayout(prefix).customer(partition_for("c-42", partitions), "c-42")
    profile = CustomerProfile(
        "c-42", updated_at=T0, email=CUSTOMER_EMAIL, name="Jane", language="en"
    )
    await redis_client.set(key, profile.to_json())
    contacts = RedisContactDirectory(redis_client, key_prefix=prefix, partitions=partitions)
    try:
        found = await contacts.lookup("c-42")
        assert found == Contact("c-42", email=CUSTOMER_EMAIL, name="Jane", language="en")
        assert await contacts.lookup("c-43") is None

        notifier = EmailNotifier(smtp_settings(smtp_server), contacts)
        action = email_action("delay_notice", language="", customer="c-42")
        assert (await notifier.send(action)).status == "sent"
        assert smtp_server.messages()[0]["Subject"].startswith("Your order")

        profile.contact_opt_out = True
        await redis_client.set(key, profile.to_json())
        skipped = await notifier.send(email_action("delay_notice", customer="c-42"))
        assert (skipped.status, skipped.reason) == ("skipped", "opt_out")
        assert len(smtp_server.received) == 1
        await notifier.aclose()
    finally:
        await redis_client.delete(key)
