"""The PNG grid: a picture of the report's rows and KPI columns."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.image import imread

from cxstream.memory_store import MemoryStateStore
from cxstream.report import ReportBuilder, StoreReportSource, render_png
from cxstream.rules import RuleSet

from .helpers import BUCKET, DAY, MIDNIGHT, answer, make_clock, replay

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def test_the_grid_is_a_png_that_grows_with_its_rows(
    shop: MemoryStateStore, rule_set: RuleSet
) -> None:
    builder = ReportBuilder(StoreReportSource(shop, BUCKET), rule_set, clock=make_clock())
    overview = render_png(await builder.build("1d", as_of=MIDNIGHT))
    drilled = render_png(await builder.build("1d", "DE", as_of=MIDNIGHT))
    assert overview.startswith(PNG_SIGNATURE)
    small, large = imread(io.BytesIO(overview)), imread(io.BytesIO(drilled))
    assert small.shape[1] >= 500  # readable at Slack preview size
    assert large.shape[0] > small.shape[0]  # 5 rows against 4
    assert render_png(await builder.build("1d", as_of=MIDNIGHT)) == overview  # deterministic


async def test_odd_segment_values_are_drawn_as_text(tmp_path: Path, rule_set: RuleSet) -> None:
    odd = "$x^2$ \u2603 \U0001f600 \u6f22\u5b57 a rather long channel name"
    store = await replay([answer("a", "DE", DAY, 3, channel=odd)], tmp_path / "out")
    builder = ReportBuilder(StoreReportSource(store, BUCKET), rule_set, clock=make_clock())
    assert render_png(await builder.build("1d", "DE", as_of=MIDNIGHT)).startswith(PNG_SIGNATURE)
