"""What an alert message carries beyond the alert: the KPI's recent windows and a link.

The detection stage remembers the last windows of every KPI it judged (observed,
expected, band, anomalous) so that a Slack alert can chart them, and links each
message to the report page of its alerts' country and window size when the web
server's public address is known.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from cxstream.detection import Detection
from cxstream.records import ActionRecord
from cxstream.rules.base import format_duration
from cxstream.series import series_id

__all__ = ["HISTORY_WINDOWS", "AlertContext"]

#: Windows of a KPI kept for the chart of its alert messages.
HISTORY_WINDOWS = 48


class AlertContext:
    """Recent windows per (rule, window size, series, KPI), and the report link."""

    def __init__(self, report_url: str | None = None, windows: int = HISTORY_WINDOWS) -> None:
        #: Base address of the web server; alert messages link to its report page.
        self.report_url = report_url.rstrip("/") if report_url else None
        self.windows = windows
        self._history: dict[tuple[str, int, str, str], deque[list[Any]]] = {}

    def enrich(self, action: ActionRecord) -> ActionRecord:
        """The action with the history of its alerts' KPIs and the report link."""
        return self.with_link(self.with_history(action))

    def with_link(self, action: ActionRecord) -> ActionRecord:
        """Link the message to the report of its alerts' country and window size."""
        alerts = action.detail.get("alerts") or ()
        if self.report_url is None or not alerts:
            return action
        first = alerts[0]
        query = {}
        start, end = first.get("window_start"), first.get("window_end")
        if start and end:
            size = datetime.fromisoformat(end) - datetime.fromisoformat(start)
            query["window"] = format_duration(size)
        countries = {a.get("segment", {}).get("country") for a in alerts}
        if len(countries) == 1 and None not in countries:
            query["country"] = str(countries.pop())
        url = f"{self.report_url}/report" + (f"?{urlencode(query)}" if query else "")
        return action.model_copy(update={"detail": {**action.detail, "report_url": url}})

    def remember(self, rule: str, window_seconds: int, sid: str, d: Detection) -> None:
        """Keep this judged window of the series' KPI (the last few per KPI)."""
        key = (rule, window_seconds, sid, d.kpi)
        rows = self._history.get(key)
        if rows is None:
            rows = self._history[key] = deque(maxlen=self.windows)
        rows.append(
            [
                d.window.start.isoformat(),
                d.observed,
                d.expected,
                d.band_low,
                d.band_high,
                d.anomalous,
            ]
        )

    def with_history(self, action: ActionRecord) -> ActionRecord:
        """Add the KPI's recent windows of each alert (for the chart of the message)."""
        history: dict[str, list[list[Any]]] = {}
        for alert in action.detail.get("alerts", ()):
            start, end = alert.get("window_start"), alert.get("window_end")
            if not (start and end):
                continue
            size = int(
                (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
            )
            key = (alert["rule"], size, series_id(alert["segment"]), alert["kpi"])
            if rows := self._history.get(key):
                history[alert["alert_id"]] = [list(row) for row in rows]
        if not history:
            return action
        return action.model_copy(update={"detail": {**action.detail, "history": history}})
