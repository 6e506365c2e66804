"""The report grid: values, colours against local expectations, rows, drill-down, trends
and alerts, built from counters the real engine wrote into the in-memory store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cxstream.firing import MemoryFiringAlerts
from cxstream.memory_store import MemoryStateStore
from cxstream.records import AlertRecord
from cxstream.report import (
    Report,
    ReportBuilder,
    ReportCell,
    StoreReportSource,
    UnknownCountryError,
    UnsupportedWindowError,
)
from cxstream.rules import RuleSet, load_rules
from cxstream.rules.silences import MemorySilenceStore, new_silence

from .helpers import BUCKET, DAY, MIDNIGHT, SHIPPED_RULES, make_clock


def builder(
    store: MemoryStateStore,
    rule_set: RuleSet | None,
    firing: MemoryFiringAlerts | None = None,
    silences: MemorySilenceStore | None = None,
) -> ReportBuilder:
    source = StoreReportSource(store, BUCKET, firing=firing, silences=silences)
    return ReportBuilder(source, rule_set, clock=make_clock())


def cell(report: Report, label: str, kpi: str) -> ReportCell:
    row = next(r for r in report.rows if r.label == label)
    found = row.cell(kpi)
    assert found is not None
    return found


def alert(rule: str, kpi: str, **segment: str) -> AlertRecord:
    return AlertRecord(
        alert_id=f"{rule}:{'-'.join(segment.values())}",
        rule=rule,
        status="firing",
        at=datetime(2026, 3, 4, 11, tzinfo=UTC),
        kpi=kpi,
        segment=segment,
        value=0.3,
        expected=0.05,
        score=1.0,
        severity="critical",
    )


async def test_a_country_beyond_its_red_boundary_is_red_with_the_exact_ratio(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    report = await builder(shop, rule_set).build("1d", as_of=MIDNIGHT)
    late = cell(report, "DE", "late_rate")
    assert late.value == 8 / 40  # 6 of dhl's 20 and 2 of dpd's 20 arrived late
    assert late.volume == 40
    assert (late.status, late.target, late.yellow_at, late.red_at) == ("red", 0.05, 0.08, 0.15)
    assert late.grey_reason is None
    fr = cell(report, "FR", "late_rate")
    assert (fr.value, fr.status) == (1 / 30, "green")
    assert report.as_of == MIDNIGHT
    assert report.window_start == MIDNIGHT - timedelta(days=1)
    assert report.source == "memory"
    assert report.generated_at == make_clock().now()


async def test_columns_follow_the_rules_and_rows_are_all_then_countries(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    report = await builder(shop, rule_set).build("1d", as_of=MIDNIGHT)
    assert [(c.kpi, c.title, c.unit) for c in report.columns] == [
        ("late_rate", "Late deliveries", "share"),
        ("nps", "NPS", "points"),
        ("detractor_rate", "Detractors", "share"),
    ]
    assert [(r.label, r.level, r.series) for r in report.rows] == [
        ("All", "all", "all"),
        ("AT", "country", "country=AT"),
        ("DE", "country", "country=DE"),
        ("FR", "country", "country=FR"),
    ]
    assert all(len(r.cells) == 3 for r in report.rows)


async def test_without_kpi_rules_the_default_kpis_are_shown_grey(
    shop: MemoryStateStore,
) -> None:
    report = await builder(shop, None).build("1d", as_of=MIDNIGHT)
    assert [c.kpi for c in report.columns] == [
        "nps",
        "detractor_rate",
        "late_rate",
        "exception_rate",
    ]
    de = cell(report, "DE", "late_rate")
    assert (de.value, de.status, de.grey_reason) == (0.2, "grey", "no_expectation")


async def test_a_segment_without_expectation_is_grey_but_shows_its_value(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    report = await builder(shop, rule_set).build("1d", as_of=MIDNIGHT)
    detractors = cell(report, "DE", "detractor_rate")  # the rule has no expectations
    assert (detractors.value, detractors.status) == (7 / 20, "grey")
    assert detractors.grey_reason == "no_expectation"
    assert detractors.target is None
    fr_nps = cell(report, "FR", "nps")  # NPS expectations are DE's only; FR has no answers
    assert (fr_nps.status, fr_nps.value, fr_nps.grey_reason) == ("grey", None, "no_expectation")


async def test_below_min_volume_the_cell_is_grey_but_keeps_its_value(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    report = await builder(shop, rule_set).build("1d", as_of=MIDNIGHT)
    at = cell(report, "AT", "late_rate")  # 5 of 10 late: red by value, but 10 < 20
    assert (at.value, at.volume, at.status) == (0.5, 10, "grey")
    assert (at.grey_reason, at.min_volume, at.target) == ("low_volume", 20, 0.05)


async def test_the_most_specific_expectation_wins(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    drilled = await builder(shop, rule_set).build("1d", "DE", as_of=MIDNIGHT)
    de = cell(drilled, "DE", "nps")  # 8 promoters, 7 detractors of 20: NPS 5
    assert (de.value, de.target, de.status) == (5.0, 45, "red")
    app = cell(drilled, "DE / app", "nps")  # NPS 30 against DE / app's own target 30
    assert (app.value, app.target, app.yellow_at, app.red_at, app.status) == (
        30.0,
        30,
        20,
        10,
        "green",
    )
    web = cell(drilled, "DE / web", "nps")  # DE's expectation applies to DE / web
    assert (web.value, web.target, web.status) == (-20.0, 45, "red")


async def test_the_shipped_rules_judge_nps_against_the_local_targets(
    shop: MemoryStateStore,
) -> None:
    report = await builder(shop, load_rules(SHIPPED_RULES)).build("1d", as_of=MIDNIGHT)
    assert [c.kpi for c in report.columns] == [
        "nps",
        "detractor_rate",
        "late_rate",
        "exception_rate",
        "reason_share:app_scan_failed",
        "reason_share:delivery_late",
        "refund_days",
    ]
    assert [c.unit for c in report.columns][-1] == "days"
    nps = cell(report, "DE", "nps")  # 20 answers (min_volume 20), NPS 5
    assert (nps.value, nps.volume, nps.status) == (5.0, 20, "red")
    assert (nps.target, nps.yellow_at, nps.red_at) == (35, 28, 22)
    at = cell(report, "AT", "nps")  # AT: target 32, tolerance 8; no answers
    assert (at.target, at.yellow_at, at.red_at) == (32, 24, 16)
    assert (at.status, at.grey_reason) == ("grey", "no_value")
    assert cell(report, "DE", "late_rate").status == "red"


async def test_drill_down_lists_the_countrys_segments_at_the_rules_levels(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    report = await builder(shop, rule_set).build("1d", "DE", as_of=MIDNIGHT)
    assert report.country == "DE"
    assert [(r.label, r.level) for r in report.rows] == [
        ("DE", "country"),
        ("DE / app", "country+channel"),
        ("DE / web", "country+channel"),
        ("DE / dhl", "country+carrier"),
        ("DE / dpd", "country+carrier"),
    ]  # country+segment series exist, but no rule watches that level
    assert cell(report, "DE / dhl", "late_rate").value == 6 / 20
    assert cell(report, "DE / dpd", "late_rate").value == 2 / 20
    lower = await builder(shop, rule_set).build("1d", "de", as_of=MIDNIGHT)
    assert [r.label for r in lower.rows] == [r.label for r in report.rows]


async def test_drill_down_without_rules_shows_every_finer_level(shop: MemoryStateStore) -> None:
    report = await builder(shop, None).build("1d", "DE", as_of=MIDNIGHT)
    levels = [r.level for r in report.rows]
    assert levels[0] == "country"
    assert {"country+channel", "country+segment", "country+carrier"} == set(levels[1:])
    assert levels == sorted(
        levels, key=["country", "country+channel", "country+segment", "country+carrier"].index
    )


async def test_an_unknown_country_names_the_countries_with_data(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    with pytest.raises(UnknownCountryError, match="AT, DE, FR"):
        await builder(shop, rule_set).build("1d", "XX")


async def test_a_country_filter_limits_the_country_rows(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    report = await builder(shop, rule_set).build("1d", as_of=MIDNIGHT, countries={"FR", "DE"})
    assert [r.label for r in report.rows] == ["DE", "FR"]


async def test_as_of_defaults_to_the_end_of_the_latest_bucket_with_data(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    report = await builder(shop, rule_set).build("1d")
    # The last events are the answers at 12:00 on DAY: bucket 12:00-12:15.
    assert report.as_of == datetime(2026, 3, 4, 12, 15, tzinfo=UTC)
    assert report.window_start == datetime(2026, 3, 3, 12, 15, tzinfo=UTC)
    assert cell(report, "DE", "late_rate").value == 8 / 40


async def test_an_hour_window_covers_that_hour_only(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    at_11 = datetime(2026, 3, 4, 11, tzinfo=UTC)
    report = await builder(shop, rule_set).build("1h", as_of=at_11)
    assert report.window == "1h"
    assert cell(report, "DE", "late_rate").value == 8 / 40  # deliveries at 10:00
    assert cell(report, "DE", "nps").value is None  # answers at 12:00
    later = await builder(shop, rule_set).build("1h", as_of=at_11 + timedelta(hours=2))
    assert cell(later, "DE", "late_rate").value is None
    assert cell(later, "DE", "late_rate").grey_reason == "no_value"
    # an as_of inside a bucket is rounded down to the bucket's start
    inside = await builder(shop, rule_set).build("1h", as_of=at_11 + timedelta(minutes=7))
    assert inside.as_of == at_11


async def test_windows_that_are_not_whole_buckets_are_refused(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    with pytest.raises(UnsupportedWindowError, match="900 s"):
        await builder(shop, rule_set).build("10m")
    with pytest.raises(ValueError, match="not a duration"):
        await builder(shop, rule_set).build("one day")
    with pytest.raises(ValueError, match="timezone-aware"):
        await builder(shop, rule_set).build("1d", as_of=datetime(2026, 3, 5))


async def test_trend_has_28_days_ending_with_the_as_of_day(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    report = await builder(shop, rule_set).build("1d", as_of=MIDNIGHT)
    late = cell(report, "DE", "late_rate")
    assert len(late.trend_28d) == 28
    assert late.trend_7d == late.trend_28d[-7:]
    assert late.trend_28d[0].day == (DAY - timedelta(days=27)).isoformat()
    by_day = {p.day: p.value for p in late.trend_28d}
    assert by_day[DAY.isoformat()] == 8 / 40
    assert by_day[(DAY - timedelta(days=3)).isoformat()] == 1 / 20
    assert sum(v is not None for v in by_day.values()) == 2
    # a report at noon ends its trend with that (partial) day
    noon = await builder(shop, rule_set).build("1d", as_of=datetime(2026, 3, 4, 9, tzinfo=UTC))
    early = cell(noon, "DE", "late_rate")
    assert early.trend_28d[-1].day == DAY.isoformat()
    assert early.trend_28d[-1].value is None  # the deliveries at 10:00 are after as_of


async def test_a_firing_alert_marks_its_cell_and_its_countrys_cell(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    firing = MemoryFiringAlerts()
    await firing.update([alert("late-rate", "late_rate", country="DE", carrier="dhl")])
    overview = await builder(shop, rule_set, firing).build("1d", as_of=MIDNIGHT)
    de = cell(overview, "DE", "late_rate")
    assert (de.alert, de.alert_rules, de.alert_series) == (
        "firing",
        ["late-rate"],
        ["country=DE,carrier=dhl"],
    )
    assert cell(overview, "DE", "nps").alert == "none"  # another KPI
    assert cell(overview, "FR", "late_rate").alert == "none"
    drilled = await builder(shop, rule_set, firing).build("1d", "DE", as_of=MIDNIGHT)
    assert cell(drilled, "DE / dhl", "late_rate").alert == "firing"
    assert cell(drilled, "DE / dpd", "late_rate").alert == "none"
    assert cell(drilled, "DE / app", "late_rate").alert == "none"  # not a finer segment


async def test_a_silence_turns_a_firing_cell_silenced(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    firing = MemoryFiringAlerts()
    await firing.update(
        [
            alert("late-rate", "late_rate", country="DE", carrier="dhl"),
            alert("nps-drop", "nps", country="DE"),
        ]
    )
    now = make_clock().now()
    silences = MemorySilenceStore()
    # by a rule label (team comes from the rule) and a segment label
    await silences.add(
        new_silence(
            ['team="logistics"', "carrier=dhl"],
            timedelta(hours=2),
            "ana",
            "carrier incident known",
            now - timedelta(hours=1),
        )
    )
    # ended before now: mutes nothing any more
    await silences.add(
        new_silence(["kpi=nps"], timedelta(hours=1), "ana", "old", now - timedelta(hours=3))
    )
    report = await builder(shop, rule_set, firing, silences).build("1d", as_of=MIDNIGHT)
    late = cell(report, "DE", "late_rate")
    assert (late.alert, late.alert_rules) == ("silenced", ["late-rate"])
    assert cell(report, "DE", "nps").alert == "firing"


async def test_one_unmuted_alert_keeps_the_cell_firing(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    firing = MemoryFiringAlerts()
    await firing.update(
        [
            alert("late-rate", "late_rate", country="DE", carrier="dhl"),
            alert("late-rate", "late_rate", country="DE", carrier="dpd"),
        ]
    )
    silences = MemorySilenceStore()
    await silences.add(
        new_silence(["carrier=dhl"], timedelta(hours=2), "ana", "known", make_clock().now())
    )
    report = await builder(shop, rule_set, firing, silences).build("1d", as_of=MIDNIGHT)
    de = cell(report, "DE", "late_rate")
    assert de.alert == "firing"
    assert de.alert_series == ["country=DE,carrier=dhl", "country=DE,carrier=dpd"]


async def test_the_report_round_trips_through_json(
    shop: MemoryStateStore, rule_set: RuleSet, tmp_path: Path
) -> None:
    firing = MemoryFiringAlerts()
    await firing.update([alert("late-rate", "late_rate", country="DE", carrier="dhl")])
    report = await builder(shop, rule_set, firing).build("1d", "DE", as_of=MIDNIGHT)
    data = report.model_dump(mode="json")
    assert data["as_of"] == "2026-03-05T00:00:00Z"
    assert Report.model_validate(data) == report
    assert Report.model_validate_json(report.model_dump_json()) == report
