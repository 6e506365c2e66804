"""Validation of the action details the notifiers deliver, and the notifier settings."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from cxstream.notify.base import PayloadError
from cxstream.notify.payloads import (
    ApologyEmailDetail,
    DelayNoticeDetail,
    SlackAlertDetail,
    VipTaskDetail,
    evidence_of,
    parse_detail,
)
from cxstream.notify.settings import DispatchSettings, SlackSettings, SmtpSettings, WebhookSettings
from cxstream.records import ActionRecord, AlertRecord

AT = datetime(2026, 3, 2, 10, tzinfo=UTC)


def action(type_: str, detail: dict[str, Any]) -> ActionRecord:
    return ActionRecord(
        action_id=f"{type_}:1",
        type=type_,
        at=AT,
        rule="r",
        customer_id="c-1",
        detail=detail,
    )


def alert(**changes: Any) -> dict[str, Any]:
    record = AlertRecord(
        alert_id="kpi:1",
        rule="kpi",
        status="firing",
        at=AT,
        kpi="nps",
        segment={"country": "DE"},
        value=20.0,
        expected=40.0,
        score=0.9,
        severity="critical",
    )
    return record.as_dict() | changes


def test_slack_alert_detail_parses_alerts_and_history_and_ignores_extras() -> None:
    history = [
        ["2026-03-02T10:00:00+00:00", 20.0, 40.0, 30.0, 50.0, True],
        ["2026-03-02T09:00:00+00:00", 41.0, 40.0, 30.0, 50.0, False],
    ]
    parsed = parse_detail(
        action(
            "slack_alert",
            {
                "receiver": "ops",
                "channel": "#ops",
                "group_key": "g",
                "status": "firing",
                "alerts": [alert(future_field="ignored")],
                "history": {"kpi:1": history},
                "report_url": None,
                "update_of": None,
                "something_new": 1,
            },
        )
    )
    assert isinstance(parsed, SlackAlertDetail)
    assert parsed.alerts[0].alert_id == "kpi:1"
    points = parsed.points("kpi:1")
    assert [p.anomalous for p in points] == [False, True]  # oldest first
    assert points[0].start == datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert parsed.points("unknown") == []


@pytest.mark.parametrize(
    ("type_", "detail", "field"),
    [
        (
            "slack_alert",
            {"receiver": "r", "channel": "c", "group_key": "g", "status": "x", "alerts": [alert()]},
            "status",
        ),
        (
            "slack_alert",
            {"receiver": "r", "channel": "c", "group_key": "g", "status": "firing", "alerts": []},
            "alerts",
        ),
        (
            "vip_apology_task",
            {"receiver": "r", "channel": "c", "score": 11, "sla_due": "2026-03-02T10:00:00Z"},
            "score",
        ),
        (
            "vip_apology_task",
            {"receiver": "r", "channel": "c", "score": 1, "sla_due": "2026-03-02T10:00:00"},
            "sla_due",
        ),
        ("delay_notice", {"language": "de"}, "promised_date"),
        ("apology_email", {"template": "apology_unknown"}, "template"),
    ],
)
def test_invalid_details_raise_payload_errors_naming_the_field(
    type_: str, detail: dict[str, Any], field: str
) -> None:
    with pytest.raises(PayloadError, match=f"field '{field}"):
        parse_detail(action(type_, detail))


def test_a_digest_needs_its_report() -> None:
    with pytest.raises(PayloadError, match="field 'receiver': Field required"):
        parse_detail(action("digest", {}))
    with pytest.raises(PayloadError, match="field 'report': Field required"):
        parse_detail(
            action("digest", {"receiver": "cx", "scheduled_for": "2026-03-02T07:00:00+00:00"})
        )


def test_email_details_have_defaults() -> None:
    notice = parse_detail(action("delay_notice", {"promised_date": "2026-03-03"}))
    assert isinstance(notice, DelayNoticeDetail)
    # Without a language the notifier writes in the customer's language at send time.
    assert (notice.promised_date, notice.eta, notice.language) == (date(2026, 3, 3), None, None)
    apology = parse_detail(action("apology_email", {}))
    assert isinstance(apology, ApologyEmailDetail)
    assert (apology.template, apology.voucher, apology.reasons) == ("apology", None, [])


def test_vip_task_history_rows() -> None:
    task = parse_detail(
        action(
            "vip_apology_task",
            {
                "receiver": "r",
                "channel": "c",
                "score": 2,
                "sla_due": "2026-03-02T14:00:00Z",
                "order_history": [["2026-03-01T10:00:00Z", "shipped", None]],
            },
        )
    )
    assert isinstance(task, VipTaskDetail)
    assert task.order_history[0][1:] == ("shipped", None)
    assert task.renotify is False


def test_evidence_of_reads_the_detection_shape_and_tolerates_others() -> None:
    good = AlertRecord.model_validate(
        alert(
            evidence={
                "reasons": [{"code": "app_crash", "share": 0.2, "baseline_share": 0.01}],
                "late_detractor_share": None,
            }
        )
    )
    evidence = evidence_of(good)
    assert evidence is not None
    assert evidence.reasons[0].code == "app_crash"
    odd = AlertRecord.model_validate(alert(evidence={"reasons": "not a list"}))
    assert evidence_of(odd) is None
    assert evidence_of(AlertRecord.model_validate(alert())) is None


def test_settings_are_frozen_strict_and_keep_secrets() -> None:
    slack = SlackSettings(token="xoxb-secret", base_url="http://127.0.0.1:1/api")
    assert slack.base_url.endswith("/api/")
    assert "xoxb-secret" not in repr(slack)
    assert "xoxb-secret" not in slack.model_dump_json()
    with pytest.raises(ValidationError):
        SlackSettings(token="t", unknown=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        slack.timeout_s = 3  # type: ignore[misc]
    smtp = SmtpSettings(from_address="service@shop.example", password="pw")
    assert smtp.message_id_domain_or_default == "shop.example"
    assert "pw" not in smtp.model_dump_json()
    with pytest.raises(ValidationError):
        SmtpSettings(from_address="not-an-address")
    hook = WebhookSettings(url="https://hooks.example/x", secret="whsec")
    assert "whsec" not in repr(hook)
    with pytest.raises(ValidationError):
        WebhookSettings(url="ftp://x", secret="s")
    assert DispatchSettings().max_attempts >= 1
