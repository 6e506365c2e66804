"""Building the traffic-light report: every KPI per segment, judged against local expectations.

:class:`ReportBuilder` reads a :class:`~cxstream.report.sources.ReportSource` and the
rule set's ``kpi_alert`` rules and returns a :class:`~cxstream.report.model.Report`:

* **Columns**: the distinct KPIs of the ``kpi_alert`` rules, in rule order (without
  such rules: ``nps``, ``detractor_rate``, ``late_rate``, ``exception_rate``).
* **Rows**: without a country, an ``All`` row (if the whole-shop series exists and no
  country filter is given) and then one row per country (the series whose only
  dimension is ``country``), by code. With ``country="DE"``: the ``DE`` row, then
  every series of DE at the levels the rules' ``group_by`` name beyond the country
  (``country+channel``, ``country+segment``, ``country+carrier``, ...; without rules
  every finer level there is), ordered by level (in the order of
  :data:`~cxstream.config.DIMENSIONS`) and then by label (``DE / app``).
* **as_of** is event time: the end of the latest period (counter bucket, or day for a
  replay output) holding data (of the whole shop, so every view of the same data ends
  at the same time), unless given (then it is rounded down to a
  period boundary). A cell's value is its KPI over ``[as_of - window, as_of)``,
  computed with :func:`~cxstream.kpis.compute_kpis` from the summed counters.
  ``trend_28d`` is the KPI per UTC day for the 28 days ending with the day of the last
  instant before ``as_of`` (that day counts up to ``as_of`` only); ``trend_7d`` is its
  last 7 points.
* **Status**: the most specific expectation (most matched dimensions; the first rule,
  then the first expectation among equals) of any ``kpi_alert`` rule of the column's
  KPI that matches the row's dimensions decides green/yellow/red; ``target``,
  ``yellow_at`` and ``red_at`` come from it. The cell is grey when no expectation
  applies, when there is no value, or when the window's volume is below the
  ``min_volume`` of the rule the expectation belongs to (the value is still shown).
* **Alert**: an alert belongs to a cell when it is of the column's KPI and its segment
  is the row's segment *or a finer segment of it*. So a country row shows ``firing``
  when ``DE`` itself or, say, ``DE / app`` fires for that KPI (the morning overview
  must not hide a segment's alert; ``alert_series`` tells which segments fire), and a
  drilled-down row shows its own alerts (the rules watch no finer levels). A cell is
  ``silenced`` when all of its firing alerts are muted by a silence active now (wall
  clock, as the notifications are muted), ``firing`` when at least one is not.
  Alerts are those firing now as the source knows them, also for an earlier
  ``as_of``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cxstream.clock import Clock, SystemClock
from cxstream.config import DIMENSIONS
from cxstream.figures import sum_counters
from cxstream.kpis import KpiValue, compute_kpis
from cxstream.records import AlertRecord
from cxstream.report.model import (
    AlertState,
    CellStatus,
    GreyReason,
    Report,
    ReportCell,
    ReportColumn,
    ReportRow,
    TrendPoint,
)
from cxstream.report.sources import DAY_SECONDS, ReportSource
from cxstream.rules.base import format_duration, parse_duration
from cxstream.rules.kpi_rules import Expectation, KpiAlertRule, level_label
from cxstream.rules.routing import alert_labels
from cxstream.rules.ruleset import RuleSet
from cxstream.rules.silences import Silence
from cxstream.series import ALL_SERIES_ID, series_id

__all__ = [
    "DEFAULT_KPIS",
    "TREND_DAYS",
    "TREND_SHORT_DAYS",
    "ReportBuilder",
    "UnknownCountryError",
    "parse_window",
    "report_columns",
]

#: The columns of a report without ``kpi_alert`` rules.
DEFAULT_KPIS: tuple[str, ...] = ("nps", "detractor_rate", "late_rate", "exception_rate")
#: Days of the long and the short trend.
TREND_DAYS = 28
TREND_SHORT_DAYS = 7

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = _EPOCH.date()
_SECOND = timedelta(seconds=1)


class UnknownCountryError(ValueError):
    """A drill-down country without data; ``known`` lists the countries with data."""

    def __init__(self, country: str, known: Sequence[str]) -> None:
        self.country = country
        self.known = list(known)
        listed = ", ".join(self.known) if self.known else "none"
        super().__init__(f"no data for country {country!r}; countries with data: {listed}")


def parse_window(text: str) -> timedelta:
    """A report window (``1h``, ``1d``, ``90m``, ...) as a positive duration.

    >>> parse_window("1d")
    datetime.timedelta(days=1)
    """
    window = parse_duration(text)
    if window <= timedelta(0):
        raise ValueError(f"a report window must be longer than 0s, got {text!r}")
    return window


def report_columns(rule_set: RuleSet | None) -> list[ReportColumn]:
    """The distinct KPIs of the rule set's ``kpi_alert`` rules in rule order, or
    :data:`DEFAULT_KPIS` without such rules."""
    kpis: list[str] = []
    for rule in rule_set.kpi_rules if rule_set is not None else ():
        if rule.kpi not in kpis:
            kpis.append(rule.kpi)
    return [ReportColumn.for_kpi(k) for k in kpis or DEFAULT_KPIS]


def _level(dims: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(d for d in DIMENSIONS if d in dims)


def _level_key(level: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(DIMENSIONS.index(d) for d in level)


def _label(dims: Mapping[str, str]) -> str:
    return " / ".join(dims[d] for d in _level(dims)) or "All"


def _seconds(ts: datetime) -> int:
    return (ts - _EPOCH) // _SECOND


@dataclass(frozen=True, slots=True)
class _Alert:
    record: AlertRecord
    series: str
    muted: bool


def _judge(
    rules: Sequence[KpiAlertRule], dims: Mapping[str, str]
) -> tuple[KpiAlertRule, Expectation] | None:
    """The most specific expectation for the segment, with its rule (the first among
    equals)."""
    best: tuple[KpiAlertRule, Expectation] | None = None
    for rule in rules:
        found = rule.expectation_for(dims)
        if found is not None and (
            best is None or len(found.match.dims()) > len(best[1].match.dims())
        ):
            best = (rule, found)
    return best


class ReportBuilder:
    """Builds :class:`~cxstream.report.model.Report` grids from a source and the rules.

    ``clock`` gives ``generated_at`` and the time silences are checked at (default:
    the system clock); everything else follows the data's event time.
    """

    def __init__(
        self,
        source: ReportSource,
        rule_set: RuleSet | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.source = source
        self.rule_set = rule_set
        self.clock: Clock = clock or SystemClock()
        self.columns = report_columns(rule_set)
        self._rules: dict[str, list[KpiAlertRule]] = defaultdict(list)
        for rule in rule_set.kpi_rules if rule_set is not None else ():
            self._rules[rule.kpi].append(rule)
        self._rules_by_name = {r.name: r for r in (rule_set.kpi_rules if rule_set else ())}

    def drill_levels(self, found: Collection[tuple[str, ...]]) -> list[tuple[str, ...]]:
        """The finer levels inside a country a drill-down shows: those the rules'
        ``group_by`` name (with ``country``), or every level ``found`` without rules."""
        levels: set[tuple[str, ...]]
        if self._rules_by_name:
            levels = {
                level
                for rule in self._rules_by_name.values()
                for level in rule.group_by
                if "country" in level and len(level) > 1
            }
        else:
            levels = {level for level in found if "country" in level and len(level) > 1}
        return sorted(levels, key=_level_key)

    def _rows(
        self,
        series: Mapping[str, Mapping[str, str]],
        country: str | None,
        countries: Collection[str] | None,
    ) -> tuple[list[str], str | None]:
        by_country = {
            dims["country"]: sid for sid, dims in series.items() if set(dims) == {"country"}
        }
        if country is None:
            shown = sorted(c for c in by_country if countries is None or c in countries)
            ids = [by_country[c] for c in shown]
            if ALL_SERIES_ID in series and countries is None:
                ids.insert(0, ALL_SERIES_ID)
            return ids, None
        if country not in by_country and country.upper() in by_country:
            country = country.upper()
        if country not in by_country:
            raise UnknownCountryError(country, sorted(by_country))
        inside = {
            sid: dims
            for sid, dims in series.items()
            if dims.get("country") == country and len(dims) > 1
        }
        levels = self.drill_levels({_level(d) for d in inside.values()})
        children = sorted(
            (sid for sid, dims in inside.items() if _level(dims) in levels),
            key=lambda sid: (_level_key(_level(inside[sid])), _label(inside[sid])),
        )
        return [by_country[country], *children], country

    async def build(
        self,
        window: str = "1d",
        country: str | None = None,
        *,
        as_of: datetime | None = None,
        countries: Collection[str] | None = None,
    ) -> Report:
        """The report for ``window`` (``1h``, ``1d``), over every country or drilled
        down into ``country``, at the event time ``as_of`` (default: the end of the
        latest data). ``countries`` limits the country rows (e.g. a digest's).

        Raises ``ValueError`` for an invalid window,
        :class:`~cxstream.report.sources.UnsupportedWindowError` for a window the source
        cannot give and :class:`UnknownCountryError` for a country without data.
        """
        size = parse_window(window)
        self.source.check_window(size)
        if as_of is not None and (as_of.tzinfo is None or as_of.utcoffset() is None):
            raise ValueError(f"as_of must be timezone-aware, got {as_of.isoformat()}")
        generated_at = self.clock.now()
        period = self.source.period_seconds
        span = int(size.total_seconds()) // period
        series = await self.source.series()
        row_ids, country = self._rows(series, country, countries)

        if as_of is None:
            latest = await self._latest_period(series)
            end = latest + 1 if latest is not None else _seconds(generated_at) // period
        else:
            end = _seconds(as_of) // period
        as_of_time = _EPOCH + timedelta(seconds=end * period)
        last_day = (as_of_time - _SECOND).date()
        days = [last_day - timedelta(days=n) for n in range(TREND_DAYS - 1, -1, -1)]
        first_day_start = (days[0] - _EPOCH_DAY).days * DAY_SECONDS
        first = min(end - span, first_day_start // period)
        data = await self.source.periods(row_ids, first, end - 1)

        alerts = await self._alerts(generated_at)
        rows = [
            self._row(sid, series[sid], data.get(sid, {}), end, span, days, alerts)
            for sid in row_ids
        ]
        return Report(
            generated_at=generated_at,
            as_of=as_of_time,
            window=format_duration(size),
            window_start=_EPOCH + timedelta(seconds=(end - span) * period),
            country=country,
            source=self.source.kind,
            windows=list(self.source.windows),
            columns=self.columns,
            rows=rows,
        )

    async def _latest_period(self, series: Mapping[str, Mapping[str, str]]) -> int | None:
        """The latest period holding data of any series: that of the whole-shop series,
        which every event counts in, or else of the countries (every event has one), so
        that every view of the same data has the same default ``as_of``."""
        probe = [ALL_SERIES_ID] if ALL_SERIES_ID in series else []
        probe = probe or sorted(sid for sid, dims in series.items() if set(dims) == {"country"})
        probe = probe or sorted(series)
        data = await self.source.periods(probe)
        return max((p for per in data.values() for p, c in per.items() if c), default=None)

    async def _alerts(self, now: datetime) -> list[_Alert]:
        """The firing alerts, each with its series and whether a silence mutes it."""
        firing = await self.source.firing()
        silences: list[Silence] = await self.source.silences(now) if firing else []

        def muted(record: AlertRecord) -> bool:
            labels = alert_labels(record, self._rules_by_name.get(record.rule))
            return any(s.mutes(labels) for s in silences)

        return [_Alert(r, series_id(r.segment), muted(r)) for r in firing]

    def _row(
        self,
        sid: str,
        dims: Mapping[str, str],
        periods: Mapping[int, Mapping[str, float]],
        end: int,
        span: int,
        days: Sequence[date],
        alerts: Sequence[_Alert],
    ) -> ReportRow:
        period = self.source.period_seconds
        start = end - span
        in_window = {p: c for p, c in periods.items() if start <= p < end}
        kpis = [c.kpi for c in self.columns]
        values = compute_kpis(sum_counters(in_window), kpis)
        per_day: dict[date, dict[int, Mapping[str, float]]] = defaultdict(dict)
        for p, counters in periods.items():
            day = (_EPOCH + timedelta(seconds=p * period)).date()
            if p < end and day >= days[0]:
                per_day[day][p] = counters
        daily = {day: compute_kpis(sum_counters(per_day[day]), kpis) for day in per_day}
        mine = [a for a in alerts if all(a.record.segment.get(k) == v for k, v in dims.items())]
        cells = []
        for column in self.columns:
            kpi = column.kpi
            found = values.get(kpi)
            trend = [
                TrendPoint(
                    day=day.isoformat(),
                    value=daily[day][kpi].value if day in daily and kpi in daily[day] else None,
                )
                for day in days
            ]
            alerts_here = [a for a in mine if a.record.kpi == kpi]
            cells.append(self._cell(column, dims, found, alerts_here, trend))
        label, level = _label(dims), level_label(dims)
        return ReportRow(series=sid, segment=dict(dims), label=label, level=level, cells=cells)

    def _cell(
        self,
        column: ReportColumn,
        dims: Mapping[str, str],
        found: KpiValue | None,
        alerts: Sequence[_Alert],
        trend: list[TrendPoint],
    ) -> ReportCell:
        value, volume = (None, 0) if found is None else (found.value, found.volume)
        judge = _judge(self._rules.get(column.kpi, ()), dims)
        status: CellStatus = "grey"
        reason: GreyReason | None = None
        target = yellow_at = red_at = None
        min_volume = None
        if judge is None:
            reason = "no_expectation"
        else:
            rule, expectation = judge
            target, min_volume = expectation.target, rule.min_volume
            yellow_at, red_at = expectation.boundaries(column.higher_is_worse)
            if value is None:
                reason = "no_value"
            elif volume < min_volume:
                reason = "low_volume"
            else:
                status = expectation.status(value, column.higher_is_worse)
        alert: AlertState = "none"
        if alerts:
            alert = "silenced" if all(a.muted for a in alerts) else "firing"
        return ReportCell(
            kpi=column.kpi,
            value=value,
            status=status,
            target=target,
            yellow_at=yellow_at,
            red_at=red_at,
            volume=volume,
            higher_is_worse=column.higher_is_worse,
            alert=alert,
            alert_rules=sorted({a.record.rule for a in alerts}),
            alert_series=sorted({a.series for a in alerts}),
            min_volume=min_volume,
            grey_reason=reason,
            trend_7d=trend[-TREND_SHORT_DAYS:],
            trend_28d=trend,
        )
