"""The HTML page: coloured cells with data attributes, escaped segment values, relative
drill-down and window links, sparklines and badges, and no JavaScript."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from cxstream.firing import MemoryFiringAlerts
from cxstream.memory_store import MemoryStateStore
from cxstream.records import AlertRecord
from cxstream.report import Report, ReportBuilder, StoreReportSource, render_html
from cxstream.rules import RuleSet
from cxstream.rules.silences import MemorySilenceStore, new_silence

from .helpers import BUCKET, DAY, MIDNIGHT, answer, make_clock, replay

HOSTILE = "<script>alert(1)</script>"


async def build(
    store: MemoryStateStore,
    rule_set: RuleSet,
    country: str | None = None,
    firing: MemoryFiringAlerts | None = None,
    silences: MemorySilenceStore | None = None,
) -> Report:
    source = StoreReportSource(store, BUCKET, firing=firing, silences=silences)
    builder = ReportBuilder(source, rule_set, clock=make_clock())
    return await builder.build("1d", country, as_of=MIDNIGHT)


def td(page: str, series: str, kpi: str) -> str:
    found = re.search(
        rf'<td class="cell [^"]*" data-kpi="{kpi}" data-series="{series}"[^>]*>', page
    )
    assert found is not None, (series, kpi)
    return found.group(0)


async def test_the_red_cell_carries_its_status_and_data_attributes(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    page = render_html(await build(shop, rule_set))
    assert page.startswith("<!DOCTYPE html>")
    assert td(page, "country=DE", "late_rate").startswith(
        '<td class="cell red" data-kpi="late_rate" data-series="country=DE" data-status="red"'
        ' data-alert="none"'
    )
    assert 'data-status="green"' in td(page, "country=FR", "late_rate")
    assert 'data-status="grey"' in td(page, "country=AT", "late_rate")
    assert ">20.0 %</span>" in page  # DE's late rate, as a percentage
    assert "target 5.0 %" in page
    assert "target 5.0 % &middot; low volume" in page  # AT: 10 deliveries, 20 needed
    assert "<script" not in page  # no JavaScript at all
    assert page.count('<svg class="spark"') == 4 * 3  # a sparkline per cell


async def test_country_labels_link_to_their_drill_down(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    page = render_html(await build(shop, rule_set))
    assert '<a class="drill" href="?window=1d&amp;country=DE">DE</a>' in page
    assert '<a class="window" href="?window=1h">1h</a>' in page
    assert 'href="/api/report?window=1d"' in page
    assert 'class="back"' not in page
    drilled = render_html(await build(shop, rule_set, "DE"), base_path="/cx/report")
    assert '<a class="back" href="?window=1d">' in drilled
    assert '<a class="window" href="?window=1h&amp;country=DE">1h</a>' in drilled
    assert 'href="/api/cx/report?window=1d&amp;country=DE"' in drilled
    assert 'class="drill"' not in drilled
    assert ">by carrier</th>" in drilled
    as_file = render_html(await build(shop, rule_set), base_path="")
    assert "/api/" not in as_file


async def test_a_hostile_segment_value_is_escaped(tmp_path: Path, rule_set: RuleSet) -> None:
    events = [answer(f"x{i}", "DE", DAY, 3, channel=HOSTILE) for i in range(3)]
    store = await replay(events, tmp_path / "out")
    page = render_html(await build(store, rule_set, "DE"))
    assert HOSTILE not in page
    assert "<script" not in page
    assert "DE / &lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_firing_and_silenced_cells_have_badges(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    firing = MemoryFiringAlerts()
    records = [
        AlertRecord(
            alert_id=f"a-{country}",
            rule="late-rate",
            status="firing",
            at=MIDNIGHT - timedelta(hours=2),
            kpi="late_rate",
            segment={"country": country},
            value=0.2,
            expected=0.05,
            score=1.0,
            severity="critical",
        )
        for country in ("DE", "FR")
    ]
    await firing.update(records)
    silences = MemorySilenceStore()
    now = make_clock().now()
    await silences.add(new_silence(["country=FR"], timedelta(hours=1), "ana", "known", now))
    page = render_html(await build(shop, rule_set, firing=firing, silences=silences))
    assert 'data-alert="firing"' in td(page, "country=DE", "late_rate")
    assert 'data-alert="silenced"' in td(page, "country=FR", "late_rate")
    assert '<span class="badge firing">firing</span>' in page
    assert '<span class="badge silenced">silenced</span>' in page
