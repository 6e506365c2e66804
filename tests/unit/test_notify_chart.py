"""The KPI chart: a small, deterministic PNG."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from cxstream.notify.chart import KpiPoint, render_kpi_chart

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def history(n: int = 48, anomalous_from: int = 40) -> list[KpiPoint]:
    return [
        KpiPoint(
            T0 + timedelta(hours=h),
            0.27 if h >= anomalous_from else 0.10 + 0.01 * (h % 3),
            0.11,
            0.06,
            0.16,
            h >= anomalous_from,
        )
        for h in range(n)
    ]


def test_chart_is_a_small_png() -> None:
    png = render_kpi_chart(history(), title="Detractor rate · DE / app", percent=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) < 100_000
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    assert (width, height) == (800, 300)


def test_chart_is_deterministic_and_shows_the_anomalies() -> None:
    one = render_kpi_chart(history(), title="t")
    assert render_kpi_chart(history(), title="t") == one
    assert render_kpi_chart(history(anomalous_from=48), title="t") != one
    assert b"Software" not in one
    assert b"matplotlib" not in one


def test_missing_values_and_single_points_are_drawn() -> None:
    gaps = [
        KpiPoint(T0, None, None, None, None),
        KpiPoint(T0 + timedelta(hours=1), 5.0, None, None, None, True),
    ]
    assert render_kpi_chart(gaps, title="NPS").startswith(b"\x89PNG")
    assert render_kpi_chart(gaps[1:], title="NPS").startswith(b"\x89PNG")


def test_an_empty_history_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one point"):
        render_kpi_chart([], title="t")


def test_chart_is_fast() -> None:
    render_kpi_chart(history(), title="warm-up")
    started = time.perf_counter()
    render_kpi_chart(history(), title="t")
    assert time.perf_counter() - started < 1.0
