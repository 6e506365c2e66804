"""A small PNG chart of a KPI's recent history, for Slack alerts.

The chart shows the observed value per window, the expected value and its band, and
marks the anomalous windows (red points on a shaded span). It is drawn with
matplotlib's Agg renderer on a private :class:`~matplotlib.figure.Figure` (no pyplot,
no display, no global state, safe in threads) and saved without a timestamp or
software tag, so the same points always give the same bytes.

>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2026, 3, 2, tzinfo=UTC)
>>> pts = [KpiPoint(t0 + timedelta(hours=h), 0.1, 0.1, 0.05, 0.15, False) for h in range(6)]
>>> png = render_kpi_chart(pts, title="detractor_rate DE / app", percent=True)
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n", len(png) < 100_000
(True, True)
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import UTC

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from cxstream.notify.payloads import KpiPoint

__all__ = ["KpiPoint", "render_kpi_chart"]

_VALUE = "#1f4e79"
_EXPECTED = "#6b6b6b"
_BAND = "#c9d7e8"
_ANOMALY = "#c0392b"


def _num(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _anomalous_spans(points: Sequence[KpiPoint]) -> list[tuple[int, int]]:
    """Index ranges ``[first, last]`` of consecutive anomalous points."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, point in enumerate(points):
        if point.anomalous and start is None:
            start = i
        if not point.anomalous and start is not None:
            spans.append((start, i - 1))
            start = None
    if start is not None:
        spans.append((start, len(points) - 1))
    return spans


def render_kpi_chart(
    points: Sequence[KpiPoint],
    *,
    title: str,
    percent: bool = False,
    width_px: int = 800,
    height_px: int = 300,
    dpi: int = 100,
) -> bytes:
    """PNG bytes of the KPI history ``points`` (oldest first).

    ``percent`` formats the y axis as a percentage of 1 (for rates and shares).
    Raises :class:`ValueError` for an empty history.
    """
    if not points:
        raise ValueError("a chart needs at least one point")
    xs = [p.start.astimezone(UTC) for p in points]
    values = [_num(p.value) for p in points]
    expected = [_num(p.expected) for p in points]
    low = [_num(p.band_low) for p in points]
    high = [_num(p.band_high) for p in points]

    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.fill_between(xs, low, high, color=_BAND, linewidth=0, label="expected band")  # type: ignore[arg-type]
    ax.plot(xs, expected, color=_EXPECTED, linestyle="--", linewidth=1, label="expected")  # type: ignore[arg-type]
    ax.plot(xs, values, color=_VALUE, linewidth=1.6, marker=".", markersize=4, label="observed")  # type: ignore[arg-type]
    step = (xs[1] - xs[0]) / 2 if len(xs) > 1 else None
    for first, last in _anomalous_spans(points):
        left, right = xs[first], xs[last]
        if step is not None:
            left, right = left - step, right + step
        ax.axvspan(left, right, color=_ANOMALY, alpha=0.12, linewidth=0)  # type: ignore[arg-type]
    marked = [(x, v) for x, v, p in zip(xs, values, points, strict=True) if p.anomalous]
    if marked:
        ax.scatter(
            [x for x, _ in marked],  # type: ignore[arg-type]
            [v for _, v in marked],
            color=_ANOMALY,
            s=28,
            zorder=3,
            label="anomalous",
        )
    locator = AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = ConciseDateFormatter(locator, tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(True, linewidth=0.4, alpha=0.5)
    ax.legend(loc="best", fontsize=7, frameon=False, ncols=4)
    ax.tick_params(labelsize=8)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
