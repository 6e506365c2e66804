"""Block Kit messages for Slack: alert groups for ops, apology tasks for support leads.

Pure functions from validated details to the JSON Slack's ``chat.postMessage`` and
``chat.update`` take (:class:`SlackMessage`); the Slack notifier posts them, the folder
notifier writes them to disk, so both show exactly the same message.

Every text is passed through :func:`redact` before it leaves: anything that looks like
an email address is replaced, so a customer's address can never reach a channel even
when a note or a suggested text contains one. Values from events are escaped for
Slack's mrkdwn (``&``, ``<``, ``>``).

>>> segment_label({"channel": "app", "country": "DE"})
'DE / app'
>>> format_kpi_value("nps", 21.25), format_kpi_value("late_rate", 0.125)
('21.2', '12.5%')
>>> redact("write to jane.doe@example.com today")
'write to [email removed] today'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cxstream.config import DIMENSIONS
from cxstream.notify.payloads import SlackAlertDetail, VipTaskDetail, evidence_of
from cxstream.records import ActionRecord, AlertRecord

__all__ = [
    "SlackMessage",
    "alert_message",
    "format_kpi_value",
    "kpi_in_percent",
    "kpi_label",
    "redact",
    "segment_label",
    "vip_task_message",
]

Block = dict[str, Any]

MAX_ALERTS_SHOWN = 8
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
_SEVERITY_ICON = {
    "info": ":large_blue_circle:",
    "warning": ":large_orange_circle:",
    "critical": ":red_circle:",
}
_KPI_LABELS = {
    "nps": "NPS",
    "detractor_rate": "Detractor rate",
    "late_rate": "Late-delivery rate",
    "predicted_late_rate": "Predicted late rate",
    "exception_rate": "Delivery exception rate",
    "late_detractor_share": "Late share among detractors",
    "effort_mean": "Customer effort",
    "mean_delay_days": "Mean delay",
    "refund_days": "Refund time",
    "response_rate": "Response rate",
}
_PLAIN_KPIS = {"nps", "effort_mean", "mean_delay_days", "refund_days"}
_DAYS_KPIS = {"mean_delay_days", "refund_days"}


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """A Block Kit message: fallback ``text`` (notifications) and ``blocks``."""

    channel: str
    text: str
    blocks: list[Block] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        """The arguments of ``chat.postMessage`` (``chat.update`` also takes ``ts``)."""
        return {
            "channel": self.channel,
            "text": self.text,
            "blocks": self.blocks,
            "unfurl_links": False,
            "unfurl_media": False,
        }


def redact(value: Any) -> Any:
    """``value`` with every email-like substring of every string replaced."""
    if isinstance(value, str):
        return _EMAIL.sub("[email removed]", value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int = 150) -> Block:
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…"}


def _mrkdwn(text: str, limit: int = 3000) -> Block:
    return {"type": "mrkdwn", "text": text if len(text) <= limit else text[: limit - 1] + "…"}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text)}


def _context(*texts: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(t) for t in texts]}


def segment_label(segment: dict[str, str]) -> str:
    """The segment's values in dimension order, e.g. ``DE / app``; ``all`` when empty."""
    ordered = [segment[d] for d in DIMENSIONS if d in segment]
    ordered += [v for k, v in sorted(segment.items()) if k not in DIMENSIONS]
    return " / ".join(ordered) if ordered else "all"


def kpi_label(kpi: str) -> str:
    """A readable KPI name (``reason_share:app_crash`` -> ``Share of reason app_crash``)."""
    if kpi.startswith("reason_share:"):
        return f"Share of reason {kpi.partition(':')[2]}"
    return _KPI_LABELS.get(kpi, kpi)


def kpi_in_percent(kpi: str) -> bool:
    """Whether the KPI is a rate or share (shown in percent)."""
    return kpi not in _PLAIN_KPIS


def format_kpi_value(kpi: str, value: float | None) -> str:
    """NPS in points, effort as a mean, durations in days, everything else in percent."""
    if value is None:
        return "n/a"
    if kpi in _DAYS_KPIS:
        return f"{value:.1f} d"
    if kpi in _PLAIN_KPIS:
        return f"{value:.1f}"
    return f"{value * 100:.1f}%"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _when(at: datetime) -> str:
    """A Slack date token (shown in the reader's time zone) with a UTC fallback."""
    fallback = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _worst(alerts: list[AlertRecord]) -> AlertRecord:
    return max(alerts, key=lambda a: (_SEVERITY_RANK[a.severity], a.score))


def _common_segment(alerts: list[AlertRecord]) -> dict[str, str]:
    common = dict(alerts[0].segment)
    for alert in alerts[1:]:
        common = {k: v for k, v in common.items() if alert.segment.get(k) == v}
    return common


def _alert_blocks(alert: AlertRecord, resolved: bool) -> list[Block]:
    kpi = alert.kpi
    title = f"*{_esc(kpi_label(kpi))}* · *{_esc(segment_label(alert.segment))}*"
    fields = [
        _mrkdwn(f"*{'Now' if resolved else 'Observed'}*\n{format_kpi_value(kpi, alert.value)}"),
    ]
    expected = f"*Expected*\n{format_kpi_value(kpi, alert.expected)}"
    if alert.band_low is not None and alert.band_high is not None:
        low, high = format_kpi_value(kpi, alert.band_low), format_kpi_value(kpi, alert.band_high)
        expected += f" (band {low} to {high})"
    fields.append(_mrkdwn(expected))
    if alert.volume is not None:
        fields.append(_mrkdwn(f"*Volume*\n{alert.volume:,}"))
    fields.append(_mrkdwn(f"*Detector score*\n{alert.score:.2f} ({alert.severity})"))
    if alert.window_start is not None and alert.window_end is not None:
        fields.append(_mrkdwn(f"*Window*\n{_utc(alert.window_start)} to {alert.window_end:%H:%M}"))
    elif not resolved:
        fields.append(_mrkdwn(f"*Since*\n{_utc(alert.at)}"))
    blocks: list[Block] = [{"type": "section", "text": _mrkdwn(title), "fields": fields}]
    evidence = evidence_of(alert)
    if evidence is not None and not resolved:
        lines: list[str] = []
        if evidence.reasons:
            lines.append("*Reasons that rose*")
            lines += [
                f"• `{_esc(r.code)}` {_percent(r.share)} of answers"
                f" (baseline {_percent(r.baseline_share)})"
                for r in evidence.reasons
            ]
        if evidence.late_detractor_share is not None:
            lines.append(
                f"*Late deliveries among detractors:* {_percent(evidence.late_detractor_share)}"
            )
        if lines:
            blocks.append(_section("\n".join(lines)))
    return blocks


def alert_message(detail: SlackAlertDetail, *, action_id: str) -> SlackMessage:
    """The message of an alert group: firing (what moved, by how much, and why) or
    resolved (the same message, updated)."""
    alerts = detail.alerts
    resolved = detail.status == "resolved"
    worst = _worst(alerts)
    if len(alerts) == 1:
        subject = f"{kpi_label(worst.kpi)} · {segment_label(worst.segment)}"
    else:
        common = _common_segment(alerts)
        where = segment_label(common) if common else detail.group_key
        subject = f"{len(alerts)} alerts · {where}"
    if resolved:
        header = f":white_check_mark: RESOLVED · {subject}"
        text = f"Resolved: {subject}"
    else:
        header = f"{_SEVERITY_ICON[worst.severity]} {worst.severity.upper()} · {subject}"
        text = (
            f"{worst.severity.upper()}: {kpi_label(worst.kpi)} {segment_label(worst.segment)}"
            f" {format_kpi_value(worst.kpi, worst.value)}"
            f" (expected {format_kpi_value(worst.kpi, worst.expected)})"
        )
        if len(alerts) > 1:
            text += f" and {len(alerts) - 1} more"
    blocks: list[Block] = [{"type": "header", "text": _plain(header)}]
    if resolved:
        blocks.append(_context(f"Resolved {_when(max(a.at for a in alerts))}"))
    ranked = sorted(alerts, key=lambda a: (-_SEVERITY_RANK[a.severity], -a.score, a.alert_id))
    for i, alert in enumerate(ranked[:MAX_ALERTS_SHOWN]):
        if i:
            blocks.append({"type": "divider"})
        blocks += _alert_blocks(alert, resolved)
    if len(ranked) > MAX_ALERTS_SHOWN:
        blocks.append(_context(f"…and {len(ranked) - MAX_ALERTS_SHOWN} more alerts in this group"))
    if detail.report_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": _plain("Open report"),
                        "url": detail.report_url,
                        "action_id": "open_report",
                    }
                ],
            }
        )
    rules = ", ".join(sorted({a.rule for a in alerts}))
    blocks.append(
        _context(
            f"group `{_esc(detail.group_key)}` · rule {_esc(rules)} · receiver "
            f"{_esc(detail.receiver)} · action `{_esc(action_id)}`"
        )
    )
    return SlackMessage(detail.channel, redact(text), redact(blocks))


def vip_task_message(action: ActionRecord, detail: VipTaskDetail) -> SlackMessage:
    """A task for support leads: who (customer id, never an address), what went wrong,
    the order's logistics history, a suggested handwritten apology and the due time."""
    customer = action.customer_id or "unknown"
    if detail.renotify:
        header = f":alarm_clock: Overdue: VIP apology task · customer {customer}"
        lead = (
            f"*The reply time for this VIP customer has passed* (was due {_when(detail.sla_due)})."
            " Please take it now or hand it over."
        )
    else:
        header = f":star: VIP apology task · customer {customer}"
        lead = f"A VIP customer had a bad experience. Please reply by {_when(detail.sla_due)}."
    reasons = ", ".join(f"`{_esc(r)}`" for r in detail.reasons) or "none given"
    fields = [
        _mrkdwn(
            f"*Customer*\n`{_esc(customer)}`"
            + (f" ({_esc(detail.segment)})" if detail.segment else "")
        ),
        _mrkdwn(f"*Order*\n`{_esc(action.order_id)}`" if action.order_id else "*Order*\nnone"),
        _mrkdwn(f"*Score*\n{detail.score}/10"),
        _mrkdwn(f"*Reasons*\n{reasons}"),
        _mrkdwn(f"*Reply by*\n{_when(detail.sla_due)}"),
    ]
    if detail.language:
        fields.append(_mrkdwn(f"*Language*\n{_esc(detail.language)}"))
    blocks: list[Block] = [
        {"type": "header", "text": _plain(header)},
        _section(lead),
        {"type": "section", "fields": fields},
    ]
    if detail.order_history:
        lines = ["*Order history*"]
        for at, event_type, note in sorted(detail.order_history, key=lambda row: row[0]):
            line = f"• {_utc(at)} `{_esc(event_type)}`"
            if note:
                line += f": {_esc(note)}"
            lines.append(line)
        blocks.append(_section("\n".join(lines)))
    if detail.suggested_apology:
        quoted = "\n".join(f">{_esc(line)}" for line in detail.suggested_apology.splitlines())
        blocks.append(_section(f"*Suggested apology (write it by hand)*\n{quoted}"))
    blocks.append(
        _context(
            "Contact details are in the CRM under the customer id."
            f" Action `{_esc(action.action_id)}` · rule {_esc(action.rule)}"
        )
    )
    text = (
        f"{'Overdue: ' if detail.renotify else ''}VIP apology task for customer {customer}"
        f" (score {detail.score}), reply by {_utc(detail.sla_due)}"
    )
    return SlackMessage(detail.channel, redact(text), redact(blocks))
