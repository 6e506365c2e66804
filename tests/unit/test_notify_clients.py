"""Client-side pieces that need no server: failure classification, webhook signatures,
the folder notifier."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import pytest
from slack_sdk.errors import SlackApiError

from cxstream.clock import ManualClock
from cxstream.notify.base import Delivery, PermanentError, RetryableError
from cxstream.notify.contacts import Contact, DictContactDirectory
from cxstream.notify.folder import FolderNotifier, file_stem
from cxstream.notify.mail import EmailComposer
from cxstream.notify.settings import SmtpSettings, WebhookSettings
from cxstream.notify.slack import slack_error
from cxstream.notify.smtp import smtp_error
from cxstream.notify.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookNotifier,
    sign,
    verify_signature,
)
from cxstream.records import ActionRecord, AlertRecord
from cxstream.report.model import Report, ReportCell, ReportColumn, ReportRow

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


class _Response:
    def __init__(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.data = data
        self.headers = headers or {}


def api_error(status: int, data: Any, headers: dict[str, str] | None = None) -> SlackApiError:
    return SlackApiError("failed", _Response(status, data, headers))  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    ("exc", "retryable", "retry_after"),
    [
        (api_error(429, {"ok": False}, {"Retry-After": "7"}), True, 7.0),
        (api_error(200, {"ok": False, "error": "ratelimited"}), True, None),
        (api_error(503, b""), True, None),
        (api_error(200, {"ok": False, "error": "internal_error"}), True, None),
        (api_error(200, {"ok": False, "error": "channel_not_found"}), False, None),
        (api_error(200, {"ok": False, "error": "invalid_auth"}), False, None),
        (api_error(404, {"ok": False}), False, None),
        (aiohttp.ClientConnectionError("refused"), True, None),
        (TimeoutError(), True, None),
    ],
)
def test_slack_failures_are_classified(
    exc: Exception, retryable: bool, retry_after: float | None
) -> None:
    error = slack_error(exc, "chat.postMessage")
    assert error.retryable is retryable
    assert error.retry_after == retry_after
    assert str(error).startswith("slack chat.postMessage")


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (aiosmtplib.SMTPConnectError("refused"), True),
        (aiosmtplib.SMTPServerDisconnected("gone"), True),
        (aiosmtplib.SMTPReadTimeoutError("slow"), True),
        (ConnectionRefusedError(), True),
        (aiosmtplib.SMTPResponseException(451, "try later"), True),
        (aiosmtplib.SMTPDataError(554, "rejected"), False),
        (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), False),
        (
            aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(450, "busy", "a")]),
            True,
        ),
        (
            aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no", "a")]),
            False,
        ),
        (aiosmtplib.SMTPNotSupported("no STARTTLS"), False),
    ],
)
def test_smtp_failures_are_classified(exc: Exception, retryable: bool) -> None:
    error = smtp_error(exc)
    assert isinstance(error, RetryableError if retryable else PermanentError)


def test_webhook_signature_covers_timestamp_and_body() -> None:
    body = b'{"action_id":"a:1"}'
    signature = sign(body, "1772442000", "secret")
    assert signature.startswith("sha256=")
    assert len(signature) == 7 + 64
    assert verify_signature(body, "1772442000", signature, "secret")
    assert not verify_signature(body, "1772442001", signature, "secret")
    assert not verify_signature(body + b" ", "1772442000", signature, "secret")
    assert not verify_signature(body, "1772442000", signature, "other")


def test_webhook_headers_are_signed_with_the_clock() -> None:
    clock = ManualClock(wall=T0)
    notifier = WebhookNotifier(
        WebhookSettings(url="http://127.0.0.1:9/x", secret="s", headers={"X-Env": "test"}),
        name="crm",
        clock=clock,
    )
    action = ActionRecord(action_id="d:1", type="digest", at=T0, rule="d")
    body = action.to_json().encode()
    headers = notifier.request_headers(action, body)
    assert headers[TIMESTAMP_HEADER] == str(int(T0.timestamp()))
    assert verify_signature(body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], "s")
    assert headers["X-Env"] == "test"
    assert headers["Idempotency-Key"] == "d:1"


async def test_unreachable_webhook_is_retryable() -> None:
    notifier = WebhookNotifier(WebhookSettings(url="http://127.0.0.1:9/x", secret="s", timeout_s=2))
    action = ActionRecord(action_id="d:1", type="digest", at=T0, rule="d")
    try:
        with pytest.raises(RetryableError):
            await notifier.send(action)
    finally:
        await notifier.aclose()


def folder_notifier(tmp_path: Path, contacts: DictContactDirectory | None = None) -> FolderNotifier:
    composer = EmailComposer(
        SmtpSettings(from_address="service@shop.example"), clock=ManualClock(wall=T0)
    )
    return FolderNotifier(tmp_path / "out", composer, contacts=contacts)


def alert_action(status: str = "firing") -> ActionRecord:
    alert = AlertRecord(
        alert_id="kpi:1",
        rule="kpi",
        status=status,
        at=T0,
        kpi="late_rate",
        segment={"country": "FR", "carrier": "dhl"},
        value=0.4,
        expected=0.1,
        score=0.9,
        severity="warning",
    )
    rows = [[(T0 - timedelta(hours=h)).isoformat(), 0.1, 0.1, 0.05, 0.15, h == 0] for h in range(6)]
    return ActionRecord(
        action_id=f"slack:{status}",
        type="slack_alert",
        at=T0,
        rule="kpi",
        detail={
            "receiver": "ops",
            "channel": "#ops",
            "group_key": "g",
            "status": status,
            "alerts": [alert.as_dict()],
            "history": {"kpi:1": rows},
            "update_of": "slack:firing" if status == "resolved" else None,
        },
    )


def apology(action_id: str = "apology:1") -> ActionRecord:
    return ActionRecord(
        action_id=action_id,
        type="apology_email",
        at=T0,
        rule="apology",
        order_id="o-1",
        customer_id="c-1",
        detail={"template": "apology", "language": "de", "voucher": "V-1"},
    )


async def test_folder_writes_the_email_as_eml_and_overwrites_on_resend(tmp_path: Path) -> None:
    notifier = folder_notifier(tmp_path)
    first = await notifier.send(apology())
    again = await notifier.send(apology())
    assert first.path == again.path
    assert first.path is not None
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["apology_1.eml"]
    message = message_from_bytes(Path(first.path).read_bytes(), policy=policy.default)
    assert message["To"] == "c-1@customers.invalid"
    assert message["Message-ID"] == first.message_id
    assert message.get_content_type() == "multipart/alternative"


async def test_folder_respects_the_contact_directory(tmp_path: Path) -> None:
    contacts = DictContactDirectory([Contact("c-1", email="jane@example.com", opt_out=True)])
    result = await folder_notifier(tmp_path, contacts).send(apology())
    assert (result.status, result.reason) == ("skipped", "opt_out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


async def test_folder_writes_block_kit_json_and_charts(tmp_path: Path) -> None:
    notifier = folder_notifier(tmp_path)
    firing = await notifier.send(alert_action())
    assert firing.path is not None
    assert firing.files
    payload = json.loads(Path(firing.path).read_text())
    assert payload["method"] == "chat.postMessage"
    assert payload["arguments"]["blocks"][0]["type"] == "header"
    assert Path(firing.files[0]).read_bytes().startswith(b"\x89PNG")
    previous = Delivery(notifier="slack", channel="C1", ts="1.5")
    resolved = await notifier.send(alert_action("resolved"), previous=previous)
    update = json.loads(Path(str(resolved.path)).read_text())
    assert update["method"] == "chat.update"
    assert update["arguments"]["ts"] == "1.5"
    assert resolved.updated


async def test_folder_writes_the_digest_as_block_kit_and_the_grid_as_png(tmp_path: Path) -> None:
    cells = [ReportCell(kpi="late_rate", value=0.3, status="red", target=0.08)]
    report = Report(
        generated_at=T0,
        as_of=T0,
        window="1d",
        window_start=T0,
        columns=[ReportColumn.for_kpi("late_rate")],
        rows=[
            ReportRow(
                series="country=FR",
                segment={"country": "FR"},
                label="FR",
                level="country",
                cells=cells,
            )
        ],
    )
    detail = {
        "receiver": "cx-leads",
        "channel": "#cx-leads",
        "scheduled_for": T0.isoformat(),
        "report": report.model_dump(mode="json"),
    }
    action = ActionRecord(action_id="digest:x/y", type="digest", at=T0, rule="d", detail=detail)
    result = await folder_notifier(tmp_path).send(action)
    assert result.path is not None
    assert Path(result.path).name == "digest_x_y.slack.json"
    arguments = json.loads(Path(result.path).read_text())["arguments"]
    assert arguments["channel"] == "#cx-leads"
    blocks = json.dumps(arguments["blocks"], ensure_ascii=False)
    assert "*FR* · Late-delivery rate *30.0%*" in blocks
    assert (tmp_path / "out" / "digest_x_y.png").read_bytes().startswith(b"\x89PNG")
    assert file_stem("../../etc/passwd") == ".._.._etc_passwd"


async def test_redis_backed_pieces_follow_the_settings() -> None:
    import redis.asyncio as aioredis

    from cxstream.config import Settings
    from cxstream.keys import KeyLayout
    from cxstream.notify.contacts import RedisContactDirectory
    from cxstream.notify.idempotency import RedisIdempotencyStore
    from cxstream.partitioning import partition_for

    settings = Settings(key_prefix="shop1", partitions=12)
    client = aioredis.Redis()
    try:
        contacts = RedisContactDirectory.from_settings(client, settings)
        expected = KeyLayout("shop1").customer(partition_for("c-7", 12), "c-7")
        assert contacts.key("c-7") == expected
        store = RedisIdempotencyStore.from_settings(client, settings)
        assert store.key("apology:1") == "shop1:{act:apology:1}:delivery"
    finally:
        await client.aclose()
