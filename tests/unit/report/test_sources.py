"""Report sources: a replay output directory gives the same daily report as the state
store the replay wrote, refuses other windows, and reads the alerts still firing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cxstream.generator import GeneratorConfig, generate_events
from cxstream.report import (
    ReplayOutputError,
    ReplayOutputSource,
    Report,
    ReportBuilder,
    StoreReportSource,
    UnsupportedWindowError,
)
from cxstream.rules import RuleSet, load_rules

from .helpers import BUCKET, MIDNIGHT, SHIPPED_RULES, make_clock, replay


def same_grid(a: Report, b: Report) -> None:
    assert (a.as_of, a.window_start, a.window, a.country) == (
        b.as_of,
        b.window_start,
        b.window,
        b.country,
    )
    assert a.columns == b.columns
    assert a.rows == b.rows


@pytest.fixture(scope="module")
def generated() -> list[dict[str, Any]]:
    config = GeneratorConfig(days=3, orders_per_day=400, warmup_days=2, seed=11)
    return [json.loads(json.dumps(e, default=str)) for e in generate_events(config)]


async def test_the_replay_output_gives_the_same_daily_report_as_the_store(
    tmp_path: Path, generated: list[dict[str, Any]]
) -> None:
    out = tmp_path / "out"
    store = await replay(generated, out)
    rules = load_rules(SHIPPED_RULES)
    from_store = ReportBuilder(StoreReportSource(store, BUCKET), rules, clock=make_clock())
    from_files = ReportBuilder(ReplayOutputSource(out), rules, clock=make_clock())

    stored, replayed = await from_store.build("1d"), await from_files.build("1d")
    # the stream ends at midnight and its last bucket holds events: the same as_of
    assert stored.as_of == replayed.as_of == datetime(2026, 3, 5, tzinfo=UTC)
    same_grid(stored, replayed)
    assert [r.label for r in stored.rows] == ["All", "AT", "CH", "DE", "FR", "NL", "PL"]
    assert any(c.value is not None for r in stored.rows for c in r.cells)
    assert (replayed.source, replayed.windows) == ("replay", ["1d"])
    assert stored.source == "memory"

    same_grid(await from_store.build("1d", "DE"), await from_files.build("1d", "DE"))
    earlier = datetime(2026, 3, 4, tzinfo=UTC)
    same_grid(
        await from_store.build("1d", as_of=earlier), await from_files.build("1d", as_of=earlier)
    )


async def test_the_replay_output_supports_the_day_window_only(
    tmp_path: Path, rule_set: RuleSet
) -> None:
    from .conftest import shop_events

    await replay(shop_events(), tmp_path / "out")
    builder = ReportBuilder(ReplayOutputSource(tmp_path / "out"), rule_set, clock=make_clock())
    with pytest.raises(UnsupportedWindowError, match=r"window 1d only, not 1h"):
        await builder.build("1h")
    with pytest.raises(UnsupportedWindowError, match="figures per UTC day"):
        await builder.build("2d")
    report = await builder.build("1d")
    assert report.as_of == MIDNIGHT  # days are the periods: the end of the last day
    de = next(r for r in report.rows if r.label == "DE").cell("late_rate")
    assert de is not None
    assert (de.value, de.status) == (8 / 40, "red")


def alert_line(alert_id: str, status: str, **segment: str) -> str:
    return json.dumps(
        {
            "alert_id": alert_id,
            "rule": "late-rate",
            "status": status,
            "at": "2026-03-04T11:00:00Z",
            "kpi": "late_rate",
            "segment": segment,
            "value": 0.3,
            "expected": 0.05,
            "score": 1.0,
            "severity": "critical",
        }
    )


async def test_alerts_whose_last_line_is_firing_are_firing(
    tmp_path: Path, rule_set: RuleSet
) -> None:
    from .conftest import shop_events

    out = tmp_path / "out"
    await replay(shop_events(), out)
    lines = [
        alert_line("a-fr", "firing", country="FR"),
        alert_line("a-de", "firing", country="DE", carrier="dhl"),
        alert_line("a-fr", "resolved", country="FR"),
    ]
    (out / "alerts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = ReplayOutputSource(out)
    assert [a.alert_id for a in await source.firing()] == ["a-de"]
    report = await ReportBuilder(source, rule_set, clock=make_clock()).build("1d")
    cells = {r.label: r.cell("late_rate") for r in report.rows}
    assert {k: c.alert for k, c in cells.items() if c is not None} == {
        "All": "firing",
        "AT": "none",
        "DE": "firing",
        "FR": "none",
    }


async def test_a_directory_without_figures_is_explained(tmp_path: Path) -> None:
    source = ReplayOutputSource(tmp_path)
    with pytest.raises(ReplayOutputError, match=r"no figures\.jsonl"):
        await ReportBuilder(source, None).build("1d")
    (tmp_path / "figures.jsonl").write_text('{"series": "all"}\n', encoding="utf-8")
    with pytest.raises(ReplayOutputError, match=r"figures\.jsonl:1: not a figures row"):
        await ReportBuilder(ReplayOutputSource(tmp_path), None).build("1d")
