"""The traffic-light (Ampel) report: every KPI per country and segment, coloured against
the local expectations, with trends and alert state.

* :mod:`cxstream.report.model`: the data (:class:`Report`, rows, cells, columns);
  ``report.model_dump(mode="json")`` is the JSON API's format;
* :mod:`cxstream.report.build`: :class:`ReportBuilder` computes a report;
* :mod:`cxstream.report.sources`: where the data comes from (a state store, or a
  replay output directory);
* :mod:`cxstream.report.html` (:func:`render_html`) and :mod:`cxstream.report.png`
  (:func:`render_png`): the page and the picture. They are imported on first use
  (Jinja2 and matplotlib are not needed to build a report).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cxstream.report.build import (
    DEFAULT_KPIS,
    ReportBuilder,
    UnknownCountryError,
    parse_window,
    report_columns,
)
from cxstream.report.model import (
    STATUS_ACCENTS,
    STATUS_COLOURS,
    AlertState,
    CellStatus,
    GreyReason,
    Report,
    ReportCell,
    ReportColumn,
    ReportRow,
    TrendPoint,
)
from cxstream.report.sources import (
    ReplayOutputError,
    ReplayOutputSource,
    ReportSource,
    SourceKind,
    StoreReportSource,
    UnsupportedWindowError,
)

if TYPE_CHECKING:
    from cxstream.report.html import render_html
    from cxstream.report.png import render_png

__all__ = [
    "DEFAULT_KPIS",
    "STATUS_ACCENTS",
    "STATUS_COLOURS",
    "AlertState",
    "CellStatus",
    "GreyReason",
    "ReplayOutputError",
    "ReplayOutputSource",
    "Report",
    "ReportBuilder",
    "ReportCell",
    "ReportColumn",
    "ReportRow",
    "ReportSource",
    "SourceKind",
    "StoreReportSource",
    "TrendPoint",
    "UnknownCountryError",
    "UnsupportedWindowError",
    "parse_window",
    "render_html",
    "render_png",
    "report_columns",
]


def __getattr__(name: str) -> Any:
    if name == "render_html":
        from cxstream.report.html import render_html

        return render_html
    if name == "render_png":
        from cxstream.report.png import render_png

        return render_png
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
