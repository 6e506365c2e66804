"""The traffic-light report's data: one grid of KPI cells per segment, as JSON-ready models.

A :class:`Report` is what the HTML page, the JSON API (``/api/report``), the PNG grid
and the Slack digest all show: for every row (a country, or a segment inside one
country when drilled down) and every KPI column, the current value over the chosen
window, the local expectation it is judged against, its colour, the daily trend
over the last 28 days (the last 7 of which are the short trend) and whether an alert
is firing or silenced for it.

>>> cell = ReportCell(kpi="nps", value=31.0, status="red", target=45.0, yellow_at=40.0,
...                   red_at=32.0, volume=812, higher_is_worse=False)
>>> cell.status, cell.trend_7d
('red', [])
>>> column = ReportColumn(kpi="late_rate", title="Late deliveries", unit="share",
...                       higher_is_worse=True)
>>> column.format(0.0812), column.format(None) == "\\u2013"
('8.1 %', True)

The traffic-light colours (:data:`STATUS_COLOURS`, cell fills, and
:data:`STATUS_ACCENTS`, borders and badges) are shared by the HTML page and the PNG
grid, so both look alike.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cxstream.kpis import REASON_SHARE_PREFIX, parse_kpi

__all__ = [
    "STATUS_ACCENTS",
    "STATUS_COLOURS",
    "AlertState",
    "CellStatus",
    "GreyReason",
    "Report",
    "ReportCell",
    "ReportColumn",
    "ReportRow",
    "TrendPoint",
]

#: ``grey``: no expectation is configured for the segment, there is no value, or too
#: little volume to judge it (see :data:`GreyReason`).
CellStatus = Literal["green", "yellow", "red", "grey"]
#: ``firing``: an alert for this KPI and segment is active; ``silenced``: it is, and
#: a silence mutes it.
AlertState = Literal["none", "firing", "silenced"]
#: Why a cell is grey: no expectation applies, no value (no volume in the window), or
#: the window's volume is below the rule's ``min_volume``.
GreyReason = Literal["no_expectation", "no_value", "low_volume"]
#: Fill colour of a cell per status (HTML background and PNG cell).
STATUS_COLOURS: dict[str, str] = {
    "green": "#c8e6c9",
    "yellow": "#fff59d",
    "red": "#ef9a9a",
    "grey": "#e0e0e0",
}
#: Darker shade per status, for borders, badges and the legend.
STATUS_ACCENTS: dict[str, str] = {
    "green": "#2e7d32",
    "yellow": "#b28704",
    "red": "#c62828",
    "grey": "#757575",
}

_TITLES: dict[str, str] = {
    "nps": "NPS",
    "detractor_rate": "Detractors",
    "effort_mean": "Effort (CES)",
    "late_detractor_share": "Late among detractors",
    "late_rate": "Late deliveries",
    "predicted_late_rate": "Predicted late",
    "exception_rate": "Delivery exceptions",
    "mean_delay_days": "Mean delay",
    "refund_days": "Refund time",
    "response_rate": "Response rate",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrendPoint(_Frozen):
    """The KPI's value over one event-time day (UTC), ``None`` without volume."""

    day: str = Field(description="ISO date")
    value: float | None


class ReportCell(_Frozen):
    """One KPI of one row."""

    kpi: str
    value: float | None = Field(description="value over the report window; None: no volume")
    status: CellStatus
    target: float | None = None
    yellow_at: float | None = None
    red_at: float | None = None
    volume: int = Field(0, description="what the value rests on (answers, deliveries, ...)")
    higher_is_worse: bool = True
    alert: AlertState = "none"
    alert_rules: list[str] = Field(default_factory=list, description="rules of firing alerts")
    alert_series: list[str] = Field(
        default_factory=list,
        description="series of the firing alerts: the row's own, or finer segments of it",
    )
    min_volume: int | None = Field(
        None, description="volume the judging rule needs (from the rule of the expectation)"
    )
    grey_reason: GreyReason | None = Field(None, description="why the cell is grey")
    trend_7d: list[TrendPoint] = Field(default_factory=list)
    trend_28d: list[TrendPoint] = Field(default_factory=list)


class ReportRow(_Frozen):
    """A segment: a country, or a finer segment of one country."""

    series: str = Field(description="series id, e.g. 'country=DE,channel=app'")
    segment: dict[str, str]
    label: str = Field(description="what a person reads, e.g. 'DE / app'")
    level: str = Field(description="dimensions of the row joined by '+', e.g. 'country+channel'")
    cells: list[ReportCell]

    def cell(self, kpi: str) -> ReportCell | None:
        """The cell of the column ``kpi``, if there is one."""
        return next((c for c in self.cells if c.kpi == kpi), None)

    def worst(self) -> CellStatus:
        order = {"red": 3, "yellow": 2, "green": 1, "grey": 0}
        return max((c.status for c in self.cells), key=order.__getitem__, default="grey")


class ReportColumn(_Frozen):
    """A KPI column, in display order."""

    kpi: str
    title: str
    unit: str = Field(
        description="'points' (NPS), 'share' (a fraction of 1, shown as %), 'days', 'score'"
        " or 'count'"
    )
    higher_is_worse: bool
    description: str = ""

    @classmethod
    def for_kpi(cls, kpi: str) -> ReportColumn:
        """The column of the KPI ``kpi``: title, unit and direction from its definition
        (:func:`~cxstream.kpis.parse_kpi`; an unknown name raises its error).

        >>> c = ReportColumn.for_kpi("reason_share:delivery_late")
        >>> c.title, c.unit, c.higher_is_worse
        ('Reason: delivery late', 'share', True)
        """
        definition = parse_kpi(kpi)
        if kpi.startswith(REASON_SHARE_PREFIX):
            title = "Reason: " + kpi[len(REASON_SHARE_PREFIX) :].replace("_", " ")
        else:
            title = _TITLES.get(kpi, kpi.replace("_", " ").capitalize())
        return cls(
            kpi=definition.name,
            title=title,
            unit=definition.unit,
            higher_is_worse=definition.higher_is_worse,
            description=definition.description,
        )

    def format(self, value: float | None) -> str:
        """``value`` as people read it in this column's unit (an en dash for none)."""
        if value is None:
            return "\u2013"
        if self.unit == "share":
            return f"{100 * value:.1f} %"
        if self.unit == "points":
            return f"{value:.1f}"
        if self.unit == "days":
            return f"{value:.1f} d"
        if self.unit == "score":
            return f"{value:.2f}"
        return f"{value:.0f}"


class Report(_Frozen):
    """The traffic-light grid at one point of event time."""

    generated_at: AwareDatetime = Field(description="wall-clock time it was built")
    as_of: AwareDatetime = Field(description="event time the window ends at")
    window: str = Field(description="window size, e.g. '1d' or '1h'")
    window_start: AwareDatetime
    country: str | None = Field(None, description="drilled-down country, or None for all")
    source: Literal["redis", "replay", "memory"] = "redis"
    windows: list[str] = Field(
        default_factory=lambda: ["1h", "1d"],
        description="windows the source can show (the page's window switch)",
    )
    columns: list[ReportColumn]
    rows: list[ReportRow]

    def cells_by_status(self, *statuses: CellStatus) -> list[tuple[ReportRow, ReportCell]]:
        """The cells with these statuses, red before yellow, in row order."""
        rank = {s: i for i, s in enumerate(statuses)}
        found = [(row, cell) for row in self.rows for cell in row.cells if cell.status in rank]
        return sorted(found, key=lambda rc: rank[rc[1].status])
