"""Block Kit messages: what a person needs to act, and nothing they must not see."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cxstream.notify.payloads import SlackAlertDetail, VipTaskDetail
from cxstream.notify.slack_blocks import (
    MAX_ALERTS_SHOWN,
    alert_message,
    format_kpi_value,
    kpi_label,
    redact,
    segment_label,
    vip_task_message,
)
from cxstream.records import ActionRecord, AlertRecord

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def alert(n: int = 0, **changes: Any) -> dict[str, Any]:
    record = AlertRecord(
        alert_id=f"kpi:{n}",
        rule="kpi",
        status="firing",
        at=T0 + timedelta(hours=1),
        kpi="detractor_rate",
        segment={"country": "DE", "channel": "app"},
        value=0.31,
        expected=0.12,
        band_low=0.08,
        band_high=0.16,
        volume=250,
        score=0.97,
        severity="critical",
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        evidence={
            "reasons": [
                {"code": "app_scan_failed", "share": 0.22, "baseline_share": 0.02},
                {"code": "app_crash", "share": 0.08, "baseline_share": 0.03},
            ],
            "late_detractor_share": 0.05,
        },
    )
    return record.as_dict() | changes


def detail(alerts: list[dict[str, Any]], status: str = "firing", **extra: Any) -> SlackAlertDetail:
    return SlackAlertDetail.model_validate(
        {
            "receiver": "ops",
            "channel": "#ops",
            "group_key": "kpi/DE",
            "status": status,
            "alerts": alerts,
            "report_url": "https://r.example/x",
            **extra,
        }
    )


def texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_labels_and_values() -> None:
    assert segment_label({}) == "all"
    assert segment_label({"carrier": "dhl", "country": "FR"}) == "FR / dhl"
    assert kpi_label("reason_share:app_crash") == "Share of reason app_crash"
    assert kpi_label("late_rate") == "Late-delivery rate"
    assert format_kpi_value("detractor_rate", 0.3125) == "31.2%"
    assert format_kpi_value("nps", -12.04) == "-12.0"
    assert format_kpi_value("mean_delay_days", 2.25) == "2.2 d"
    assert format_kpi_value("nps", None) == "n/a"


def test_firing_alert_says_what_moved_how_much_and_why() -> None:
    message = alert_message(detail([alert()]), action_id="slack:1")
    header = message.blocks[0]
    assert header["type"] == "header"
    assert header["text"]["text"] == ":red_circle: CRITICAL · Detractor rate · DE / app"
    body = texts(message.blocks)
    for shown in (
        "31.0%",
        "12.0%",
        "band 8.0% to 16.0%",
        "250",
        "0.97 (critical)",
        "`app_scan_failed` 22.0% of answers (baseline 2.0%)",
        "Late deliveries among detractors:* 5.0%",
        "https://r.example/x",
        "2026-03-02 09:00 UTC to 10:00",
    ):
        assert shown in body, shown
    assert message.text.startswith("CRITICAL: Detractor rate DE / app 31.0%")
    assert message.payload()["channel"] == "#ops"


def test_a_group_lists_several_alerts_worst_first_and_caps_the_list() -> None:
    alerts = [alert(i, severity="warning", score=0.6) for i in range(MAX_ALERTS_SHOWN + 2)]
    alerts.append(alert(99, kpi="nps", value=10.0, expected=40.0, segment={"country": "DE"}))
    message = alert_message(detail(alerts), action_id="slack:1")
    assert message.blocks[0]["text"]["text"] == f":red_circle: CRITICAL · {len(alerts)} alerts · DE"
    sections = [b for b in message.blocks if b["type"] == "section" and "fields" in b]
    assert len(sections) == MAX_ALERTS_SHOWN
    assert "NPS" in sections[0]["text"]["text"]  # the critical one first
    assert "…and 3 more alerts" in texts(message.blocks)
    assert len(message.blocks) <= 50


def test_resolved_message_replaces_the_firing_one() -> None:
    message = alert_message(
        detail([alert(status="resolved", value=0.12)], "resolved"), action_id="s:2"
    )
    assert message.blocks[0]["text"]["text"].startswith(":white_check_mark: RESOLVED")
    assert "Reasons that rose" not in texts(message.blocks)
    assert message.text.startswith("Resolved:")


def test_alert_without_evidence_or_report_still_renders() -> None:
    bare = alert(evidence=None, volume=None, band_low=None, window_start=None)
    message = alert_message(detail([bare], report_url=None), action_id="s:3")
    assert all(b["type"] != "actions" for b in message.blocks)
    assert "Since" in texts(message.blocks)


def test_text_from_events_is_escaped_for_mrkdwn() -> None:
    tricky = alert(evidence={"reasons": [{"code": "<!channel>", "share": 0.5}]})
    body = texts(alert_message(detail([tricky]), action_id="s:4").blocks)
    assert "<!channel>" not in body
    assert "&lt;!channel&gt;" in body


def test_redact_removes_addresses_everywhere() -> None:
    assert redact({"a": ["x jane@example.com y", 3], "b": "a.b+c@mail.shop.de"}) == {
        "a": ["x [email removed] y", 3],
        "b": "[email removed]",
    }


def vip(**changes: Any) -> tuple[ActionRecord, VipTaskDetail]:
    raw = {
        "receiver": "leads",
        "channel": "vip-care",
        "score": 1,
        "reasons": ["wrong_item"],
        "segment": "vip",
        "language": "de",
        "order_history": [
            ["2026-03-01T08:00:00Z", "delivered", "to jane@example.com's door"],
            ["2026-02-28T08:00:00Z", "shipped", None],
        ],
        "suggested_apology": "Liebe Jane,\nes tut uns leid. Schreiben Sie an jane@example.com",
        "sla_due": "2026-03-02T13:00:00Z",
        "renotify": False,
        "email": "jane@example.com",
    } | changes
    action = ActionRecord(
        action_id="vip:1",
        type="vip_apology_task",
        at=T0,
        rule="vip",
        order_id="o-9",
        customer_id="c-9",
        detail=raw,
    )
    return action, VipTaskDetail.model_validate(raw)


def test_vip_task_has_what_support_needs_and_no_address() -> None:
    message = vip_task_message(*vip())
    body = texts(message.blocks) + message.text
    assert "jane@example.com" not in body
    assert "@" not in body.replace("<!date^", "")
    for shown in (
        "c-9",
        "o-9",
        "1/10",
        "`wrong_item`",
        "Order history",
        "`delivered`",
        ">Liebe Jane,",
        "Suggested apology",
        "2026-03-02 13:00 UTC",
        "vip",
    ):
        assert shown in body, shown
    history = next(
        b for b in message.blocks if "Order history" in b.get("text", {}).get("text", "")
    )
    lines = history["text"]["text"].splitlines()
    assert "shipped" in lines[1]
    assert "delivered" in lines[2]
    assert message.blocks[0]["text"]["text"].startswith(":star:")


def test_vip_renotification_is_marked_overdue() -> None:
    message = vip_task_message(*vip(renotify=True))
    assert "Overdue" in message.blocks[0]["text"]["text"]
    assert message.text.startswith("Overdue:")
