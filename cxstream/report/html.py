"""The traffic-light report as one self-contained HTML page (no JavaScript, inline CSS).

:func:`render_html` fills ``templates/report.html.j2`` (Jinja2, autoescaped: segment
values come from input events) with a :class:`~cxstream.report.model.Report`: a table
of KPI columns and segment rows; every cell shows the value in the column's unit, the
expectation, a small inline SVG sparkline of the 28-day trend (the last 7 days drawn
heavier) and a badge when an alert fires or is silenced. Cells carry
``class="cell <status>"`` and ``data-kpi``, ``data-series``, ``data-status`` and
``data-alert`` attributes.

Links are relative query strings, so the page works wherever it is served (``/report``
by default) and also as a file: a country label links to ``?window=<w>&country=<c>``,
a drilled-down page links back to all countries, and the window switch links to the
windows the source offers. ``base_path`` is the page's path; the JSON of the same view
is linked at ``/api`` + ``base_path`` (``/api/report``). An empty ``base_path`` (a
page written to a file) links no JSON.

>>> from datetime import UTC, datetime
>>> t = datetime(2026, 3, 5, tzinfo=UTC)
>>> empty = Report(generated_at=t, as_of=t, window="1d", window_start=t, columns=[], rows=[])
>>> "<table" in render_html(empty)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from cxstream.report.model import (
    STATUS_ACCENTS,
    STATUS_COLOURS,
    Report,
    ReportCell,
    ReportColumn,
    TrendPoint,
)

__all__ = ["render_html", "sparkline"]

_WIDTH = 84.0
_HEIGHT = 22.0
_PAD = 2.0
_LEGEND = (
    ("green", "as expected"),
    ("yellow", "at or beyond the yellow boundary"),
    ("red", "at or beyond the red boundary"),
    ("grey", "no expectation, no value or too little volume to judge"),
)
_UNITS = {"points": "points", "share": "%", "days": "days", "score": "score 1-7"}
_GREY_REASONS = {
    "no_expectation": "no expectation configured",
    "no_value": "no volume in the window",
    "low_volume": "too little volume to judge",
}


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("cxstream.report", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html", "j2"), default_for_string=True, default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def sparkline(points: Sequence[TrendPoint], recent: int = 7) -> dict[str, Any]:
    """SVG geometry of a trend: polylines of the days with a value (gaps split them),
    those of the last ``recent`` days separately (drawn heavier), and the last point.

    >>> pts = [TrendPoint(day=f"2026-03-{d:02d}", value=float(d % 3)) for d in range(1, 11)]
    >>> line = sparkline(pts, recent=3)
    >>> len(line["lines"]), len(line["recent_lines"]), line["last"] is not None
    (1, 1, True)
    """
    values = [p.value for p in points]
    known = [v for v in values if v is not None]
    out: dict[str, Any] = {
        "width": _WIDTH,
        "height": _HEIGHT,
        "lines": [],
        "recent_lines": [],
        "last": None,
        "recent_x": _WIDTH,
        "recent_width": 0.0,
        "title": "no data in the last days",
    }
    if not known:
        return out
    low, high = min(known), max(known)
    step = (_WIDTH - 2 * _PAD) / max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        span = high - low
        y = _HEIGHT / 2 if span == 0 else _PAD + (high - v) / span * (_HEIGHT - 2 * _PAD)
        return round(_PAD + i * step, 1), round(y, 1)

    def runs(first: int) -> list[str]:
        found: list[str] = []
        current: list[str] = []
        for i in range(first, len(values)):
            v = values[i]
            if v is None:
                if len(current) > 1:
                    found.append(" ".join(current))
                current = []
                continue
            x, y = xy(i, v)
            current.append(f"{x},{y}")
        if len(current) > 1:
            found.append(" ".join(current))
        return found

    start_recent = max(len(values) - recent, 0)
    out["lines"] = runs(0)
    out["recent_lines"] = runs(max(start_recent - 1, 0))
    out["recent_x"] = round(max(_PAD + (start_recent - 0.5) * step, 0.0), 1)
    out["recent_width"] = round(_WIDTH - out["recent_x"], 1)
    last = next((i for i in range(len(values) - 1, -1, -1) if values[i] is not None), None)
    if last is not None:
        value = values[last]
        assert value is not None
        out["last"] = xy(last, value)
    out["title"] = f"{points[0].day} to {points[-1].day}"
    return out


def _query(window: str, country: str | None) -> str:
    params = {"window": window}
    if country is not None:
        params["country"] = country
    return "?" + urlencode(params)


def _tooltip(column: ReportColumn, cell: ReportCell) -> str:
    parts = [f"{column.title}: {column.format(cell.value)} (volume {cell.volume})"]
    if cell.target is not None:
        parts.append(
            f"target {column.format(cell.target)}, yellow at {column.format(cell.yellow_at)},"
            f" red at {column.format(cell.red_at)}"
        )
    if cell.grey_reason is not None:
        reason = _GREY_REASONS.get(cell.grey_reason, cell.grey_reason)
        if cell.grey_reason == "low_volume" and cell.min_volume is not None:
            reason += f" (needs {cell.min_volume})"
        parts.append(reason)
    if cell.alert != "none":
        rules, segments = ", ".join(cell.alert_rules), ", ".join(cell.alert_series)
        parts.append(f"{cell.alert}: {rules} ({segments})")
    return "; ".join(parts)


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_html(report: Report, *, base_path: str = "/report") -> str:
    """The report as a complete HTML page (see the module docstring for its links)."""
    columns = report.columns
    rows = []
    for row in report.rows:
        cells = []
        for column, cell in zip(columns, row.cells, strict=True):
            cells.append(
                {
                    "cell": cell,
                    "value": column.format(cell.value),
                    "target": None if cell.target is None else column.format(cell.target),
                    "tooltip": _tooltip(column, cell),
                    "spark": sparkline(cell.trend_28d),
                }
            )
        drill = None
        if report.country is None and row.level == "country":
            drill = _query(report.window, row.segment["country"])
        finer = [d for d in row.level.split("+") if d != "country"]
        level_title = "by " + " + ".join(finer) if finer else row.level
        rows.append({"row": row, "cells": cells, "drill": drill, "level_title": level_title})
    json_link = None
    if base_path:
        json_link = "/api" + base_path.rstrip("/") + _query(report.window, report.country)
    windows = [
        {"name": w, "href": _query(w, report.country), "current": w == report.window}
        for w in report.windows
    ]
    if report.window not in report.windows:
        windows.append({"name": report.window, "href": None, "current": True})
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            report=report,
            columns=[{"column": c, "unit": _UNITS.get(c.unit, c.unit)} for c in columns],
            rows=rows,
            windows=windows,
            back=None if report.country is None else _query(report.window, None),
            json_link=json_link,
            as_of=_time(report.as_of),
            window_start=_time(report.window_start),
            generated_at=_time(report.generated_at),
            legend=_LEGEND,
            colours=STATUS_COLOURS,
            accents=STATUS_ACCENTS,
        )
    )
