"""The traffic-light report as a PNG grid, for Slack previews and e-mail.

Rows are the report's segments, columns its KPIs; every cell is filled with the colour
of its status (the same :data:`~cxstream.report.model.STATUS_COLOURS` as the HTML page)
and shows the value in the column's unit. A cell whose alert fires gets a red frame
and the word ``FIRING``; a silenced one a dashed grey frame and ``silenced``. Characters
the font cannot draw (segment values come from input events) are drawn as ``?``. Drawn
with matplotlib's Agg renderer on a private :class:`~matplotlib.figure.Figure` (no
pyplot, no global state) and saved without a timestamp, so the same report gives the
same bytes.

>>> from datetime import UTC, datetime
>>> t = datetime(2026, 3, 5, tzinfo=UTC)
>>> empty = Report(generated_at=t, as_of=t, window="1d", window_start=t, columns=[], rows=[])
>>> render_png(empty)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import io
import textwrap
from datetime import UTC
from functools import lru_cache

from matplotlib import font_manager, ft2font
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cxstream.report.model import STATUS_ACCENTS, STATUS_COLOURS, Report

__all__ = ["render_png"]

# Layout in inches: a label column, one column per KPI, one line per row.
_LABEL_W = 1.9
_COL_W = 1.25
_ROW_H = 0.42
_HEAD_H = 0.55
_TITLE_H = 0.5
_FOOT_H = 0.35
_MARGIN = 0.15
_MAX_LABEL = 24


@lru_cache(maxsize=1)
def _drawable() -> frozenset[int]:
    """Code points of the default sans-serif font, in regular and bold."""
    found: set[int] | None = None
    for weight in ("normal", "bold"):
        font = font_manager.FontProperties(family=["sans-serif"], weight=weight)
        path = font_manager.findfont(font)
        codes = set(ft2font.FT2Font(path).get_charmap())
        found = codes if found is None else found & codes
    return frozenset(found or ())


def _text(value: str) -> str:
    """``value`` with the characters the font lacks as ``?`` (instead of a warning and a
    blank box)."""
    drawable = _drawable()
    return "".join(ch if ord(ch) in drawable else "?" for ch in value)


def _short(text: str, limit: int) -> str:
    text = _text(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _header(title: str) -> str:
    lines = textwrap.wrap(_text(title), 16) or [""]
    if len(lines) > 2:
        lines = [lines[0], _short(" ".join(lines[1:]), 16)]
    return "\n".join(lines)


def render_png(report: Report, *, dpi: int = 110) -> bytes:
    """PNG bytes of the report's grid (a note instead of the grid when it has no rows)."""
    n_rows, n_cols = len(report.rows), len(report.columns)
    width = 2 * _MARGIN + _LABEL_W + _COL_W * max(n_cols, 3)
    height = 2 * _MARGIN + _TITLE_H + _HEAD_H + _ROW_H * max(n_rows, 1) + _FOOT_H
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)  # y grows downwards, in inches
    ax.axis("off")

    where = f" {_text(report.country)}" if report.country else ""
    as_of = report.as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    ax.text(
        _MARGIN,
        _MARGIN + 0.22,
        f"CX traffic light{where}: window {report.window}, as of {as_of}",
        fontsize=12,
        fontweight="bold",
        va="center",
        parse_math=False,
    )
    top = _MARGIN + _TITLE_H
    for j, column in enumerate(report.columns):
        x = _MARGIN + _LABEL_W + j * _COL_W
        ax.text(
            x + _COL_W / 2,
            top + _HEAD_H / 2,
            _header(column.title),
            fontsize=8.5,
            fontweight="bold",
            ha="center",
            va="center",
            linespacing=1.1,
            parse_math=False,
        )
    top += _HEAD_H
    if not report.rows:
        ax.text(_MARGIN, top + _ROW_H / 2, "no data", fontsize=10, va="center", parse_math=False)
    for i, row in enumerate(report.rows):
        y = top + i * _ROW_H
        ax.text(
            _MARGIN,
            y + _ROW_H / 2,
            _short(row.label, _MAX_LABEL),
            fontsize=9.5,
            fontweight="bold" if row.level in ("country", "all") else "normal",
            va="center",
            parse_math=False,
        )
        for j, (column, cell) in enumerate(zip(report.columns, row.cells, strict=True)):
            x = _MARGIN + _LABEL_W + j * _COL_W
            frame: dict[str, object] = {"edgecolor": "white", "linewidth": 1.5}
            if cell.alert == "firing":
                frame = {"edgecolor": STATUS_ACCENTS["red"], "linewidth": 2.5}
            elif cell.alert == "silenced":
                frame = {"edgecolor": STATUS_ACCENTS["grey"], "linewidth": 2, "linestyle": "--"}
            ax.add_patch(
                Rectangle(
                    (x + 0.03, y + 0.03),
                    _COL_W - 0.06,
                    _ROW_H - 0.06,
                    facecolor=STATUS_COLOURS[cell.status],
                    **frame,  # type: ignore[arg-type]
                )
            )
            label = column.format(cell.value)
            if cell.alert != "none":
                marker = "FIRING" if cell.alert == "firing" else "silenced"
                ax.text(
                    x + _COL_W / 2,
                    y + _ROW_H * 0.36,
                    label,
                    fontsize=9.5,
                    ha="center",
                    va="center",
                    parse_math=False,
                )
                ax.text(
                    x + _COL_W / 2,
                    y + _ROW_H * 0.74,
                    marker,
                    fontsize=6.5,
                    fontweight="bold",
                    color=STATUS_ACCENTS["red" if cell.alert == "firing" else "grey"],
                    ha="center",
                    va="center",
                    parse_math=False,
                )
            else:
                ax.text(
                    x + _COL_W / 2,
                    y + _ROW_H / 2,
                    label,
                    fontsize=9.5,
                    ha="center",
                    va="center",
                    parse_math=False,
                )
    ax.text(
        _MARGIN,
        height - _MARGIN - _FOOT_H / 2,
        "green / yellow / red: against the local target;  grey: no target or too little"
        " volume;  framed: alert firing (dashed: silenced)",
        fontsize=7.5,
        color=STATUS_ACCENTS["grey"],
        va="center",
        parse_math=False,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
