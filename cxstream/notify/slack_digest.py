"""The daily traffic-light digest as a Block Kit message: red cells first, then yellow.

A CX lead reads the digest on a phone before the first meeting, so it leads with what
needs attention: a count of red, yellow and green cells, then every red cell (segment,
KPI, value against the local expectation, alert state), then the yellow ones, each
capped so the message stays within Slack's limits; the full grid follows as a PNG in
the thread and the report page is one click away.

>>> from datetime import UTC, datetime
>>> from cxstream.report.model import Report, ReportCell, ReportColumn, ReportRow
>>> at = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
>>> cell = ReportCell(kpi="late_rate", value=0.21, status="red", target=0.08, red_at=0.15,
...                   yellow_at=0.11, volume=400, alert="firing")
>>> row = ReportRow(series="country=FR", segment={"country": "FR"}, label="FR",
...                 level="country", cells=[cell])
>>> col = ReportColumn(kpi="late_rate", title="Late rate", unit="share", higher_is_worse=True)
>>> report = Report(generated_at=at, as_of=at, window="1d", window_start=at, columns=[col],
...                 rows=[row])
>>> message = digest_message(report, channel="#cx-leads", report_url=None)
>>> message.text
'CX traffic light (1d): 1 red, 0 yellow, 0 green'
>>> "*FR* · Late-delivery rate *21.0%*" in message.blocks[2]["text"]["text"]
True
"""

from __future__ import annotations

from cxstream.notify.slack_blocks import (
    Block,
    SlackMessage,
    format_kpi_value,
    kpi_label,
    redact,
)
from cxstream.report.model import CellStatus, Report, ReportCell, ReportRow

__all__ = ["MAX_CELLS_PER_COLOUR", "digest_message"]

#: Cells listed per colour; the rest are counted ("and 12 more").
MAX_CELLS_PER_COLOUR = 15
_ICON = {"red": ":red_circle:", "yellow": ":large_yellow_circle:"}
_ALERT = {"firing": " · :rotating_light: alert firing", "silenced": " · :no_bell: silenced"}


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell_line(row: ReportRow, cell: ReportCell) -> str:
    value = format_kpi_value(cell.kpi, cell.value)
    expected = (
        f" (target {format_kpi_value(cell.kpi, cell.target)})" if cell.target is not None else ""
    )
    return (
        f"{_ICON.get(cell.status, '')} *{_esc(row.label)}* · {_esc(kpi_label(cell.kpi))}"
        f" *{value}*{expected}{_ALERT.get(cell.alert, '')}"
    )


def _colour_section(report: Report, colour: CellStatus, title: str) -> list[Block]:
    cells = report.cells_by_status(colour)
    if not cells:
        return []
    lines = [_cell_line(row, cell) for row, cell in cells[:MAX_CELLS_PER_COLOUR]]
    if len(cells) > MAX_CELLS_PER_COLOUR:
        lines.append(f"_and {len(cells) - MAX_CELLS_PER_COLOUR} more_")
    text = f"*{title}*\n" + "\n".join(lines)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text[:2990]}}]


def digest_message(report: Report, *, channel: str, report_url: str | None) -> SlackMessage:
    """The digest of ``report`` for ``channel``."""
    counts = {s: 0 for s in ("red", "yellow", "green", "grey")}
    for row in report.rows:
        for cell in row.cells:
            counts[cell.status] += 1
    summary = (
        f"CX traffic light ({report.window}): {counts['red']} red, {counts['yellow']} yellow,"
        f" {counts['green']} green"
    )
    as_of = report.as_of.strftime("%Y-%m-%d %H:%M UTC")
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "CX traffic light"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"{summary} · window {report.window} up to {as_of}"
                + (" · every KPI green" if counts["red"] + counts["yellow"] == 0 else ""),
            },
        },
    ]
    blocks += _colour_section(report, "red", "Red: beyond the local expectation")
    blocks += _colour_section(report, "yellow", "Yellow: close to it")
    context = [f"{len(report.rows)} segments · {counts['grey']} cells without expectation"]
    if report_url:
        context.append(f"<{report_url}|Open the report>")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in context]})
    if report_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the report"},
                        "url": report_url,
                        "action_id": "open_report",
                    }
                ],
            }
        )
    return SlackMessage(channel=channel, text=summary, blocks=redact(blocks))
