"""What ``cxstream demo`` shows on the screen: progress, worker totals and the figures.

A :class:`DemoView` holds everything one frame shows (the figures come from
:mod:`cxstream.demo_figures`). The rendering functions are pure functions of a
:class:`DemoView`, so a frame can go to a terminal through ``rich.live.Live``, be
printed once as plain text for a log, or be inspected in a test; :class:`DemoDisplay`
chooses between the live frame and a plain summary line every few seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from cxstream.clock import Clock
from cxstream.demo_figures import NO_FIGURES, FigureBoard
from cxstream.figures import SegmentFigures
from cxstream.records import AlertRecord

__all__ = [
    "DemoDisplay",
    "DemoView",
    "WorkerStats",
    "board_tables",
    "done_line",
    "render_screen",
    "say",
    "stream_clock",
    "summary_line",
]

_LATE_BAD = 0.10
_LATE_WARN = 0.07
_NPS_BAD_GAP = 10.0
_NPS_WARN_GAP = 5.0
_DETRACTOR_BAD_GAP = 0.10
_DETRACTOR_WARN_GAP = 0.05
_WORST_CARRIERS = 6
_BAR_WIDTH = 36
_SIDE_BY_SIDE_WIDTH = 120


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """Running totals the worker reports on ``/stats/``."""

    ready: bool = False
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    held: int = 0
    retries: int = 0
    deliveries: Mapping[str, int] = field(default_factory=dict)

    @property
    def processed(self) -> int:
        """Events fully handled: counted, dropped as duplicates or dead-lettered."""
        return self.accepted + self.duplicates + self.dead_lettered

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkerStats:
        """Parse the ``/stats/`` body; missing or non-numeric totals count as 0."""
        names = ("received", "accepted", "duplicates", "dead_lettered", "held", "retries")
        numbers = {n: data.get(n) for n in names}
        raw = data.get("deliveries")
        deliveries = (
            {str(k): int(v) for k, v in raw.items() if isinstance(v, int | float)}
            if isinstance(raw, Mapping)
            else {}
        )
        return cls(
            ready=bool(data.get("ready", False)),
            deliveries=deliveries,
            **{n: int(v) if isinstance(v, int | float) else 0 for n, v in numbers.items()},
        )


@dataclass(frozen=True, slots=True)
class DemoView:
    """Everything one frame of the demo shows."""

    elapsed_s: float
    produced: int
    total: int | None
    produce_rate: float
    stream_time: datetime | None
    worker: WorkerStats | None
    process_rate: float
    board: FigureBoard
    finished: bool = False
    alerts: tuple[AlertRecord, ...] = ()
    outbox: str | None = None

    @property
    def processed(self) -> int:
        return self.worker.processed if self.worker is not None else 0


def stream_clock(moment: datetime | None) -> str:
    """``2026-03-05 14:15 UTC`` (or a dash before the first event)."""
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=int(max(0.0, seconds))))


def _count(value: int) -> str:
    return f"{value:,}"


def _share(done: int, total: int | None) -> str:
    return f"{100.0 * done / total:3.0f}%" if total else "  …"


# -- cell formatting ----------------------------------------------------------------------


def _graded(text: str | None, *, bad: bool, warn: bool) -> Text:
    if text is None:
        return Text("-", style="dim")
    return Text(text, style="bold red" if bad else "yellow" if warn else "")


def _nps_cell(nps: float | None, reference: float | None) -> Text:
    """Red when ``nps`` is more than 10 points below ``reference``, yellow past 5."""
    gap = reference - nps if nps is not None and reference is not None else 0.0
    text = None if nps is None else f"{nps:.1f}"
    return _graded(text, bad=gap > _NPS_BAD_GAP, warn=gap > _NPS_WARN_GAP)


def _detractor_cell(rate: float | None, reference: float | None) -> Text:
    excess = rate - reference if rate is not None and reference is not None else 0.0
    text = None if rate is None else f"{100.0 * rate:.1f}%"
    return _graded(text, bad=excess > _DETRACTOR_BAD_GAP, warn=excess > _DETRACTOR_WARN_GAP)


def _late_cell(rate: float | None) -> Text:
    text = None if rate is None else f"{100.0 * rate:.1f}%"
    late = rate or 0.0
    return _graded(text, bad=late > _LATE_BAD, warn=late > _LATE_WARN)


def _figure_cells(figures: SegmentFigures, shop: SegmentFigures) -> list[Text]:
    return [
        Text(_count(figures.responses)),
        _nps_cell(figures.nps, shop.nps),
        _detractor_cell(figures.detractor_rate, shop.detractor_rate),
        _late_cell(figures.late_rate),
    ]


# -- tables -------------------------------------------------------------------------------


def _table(title: str) -> Table:
    return Table(
        title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, show_edge=False
    )


def _countries_table(board: FigureBoard) -> Table:
    title = f"Countries: last 24 h to {stream_clock(board.as_of)}  |  whole stream"
    table = _table(title)
    table.add_column("country")
    for label in ("resp. 24h", "NPS 24h", "detr. 24h", "late 24h"):
        table.add_column(label, justify="right")
    for label in ("resp. all", "NPS all", "detr. all", "late all"):
        table.add_column(label, justify="right", style="cyan")
    shop = board.shop
    for row in board.countries:
        table.add_row(
            row.name, *_figure_cells(row.day, shop.day), *_figure_cells(row.total, shop.total)
        )
    table.add_section()
    table.add_row(
        Text("all", style="bold"),
        *_figure_cells(shop.day, shop.day),
        *_figure_cells(shop.total, shop.total),
    )
    return table


def _channels_table(board: FigureBoard) -> Table:
    table = _table("NPS by channel, last 24 h")
    table.add_column("country")
    for channel in ("web", "app"):
        table.add_column(f"{channel} resp.", justify="right")
        table.add_column(f"{channel} NPS", justify="right")
    shop_nps = board.shop.day.nps
    for row in board.countries:
        cells: list[Text] = []
        for channel in ("web", "app"):
            figures = board.channels.get((row.name, channel), NO_FIGURES)
            cells += [Text(_count(figures.responses)), _nps_cell(figures.nps, shop_nps)]
        table.add_row(row.name, *cells)
    return table


def _carriers_table(board: FigureBoard) -> Table:
    table = _table("Worst carriers by late rate, last 24 h")
    table.add_column("carrier", no_wrap=True)
    table.add_column("country")
    table.add_column("deliv.", justify="right")
    table.add_column("late", justify="right")
    table.add_column("late all", justify="right", style="cyan")
    table.add_column("exc.", justify="right")
    for row in board.carriers[:_WORST_CARRIERS]:
        table.add_row(
            row.carrier,
            row.country,
            _count(row.day.deliveries),
            _late_cell(row.day.late_rate),
            _late_cell(row.total.late_rate),
            _count(row.day.exceptions),
        )
    return table


def board_tables(board: FigureBoard, width: int = _SIDE_BY_SIDE_WIDTH) -> RenderableType:
    """The figure tables: countries on top, then channels and carriers (side by side when
    ``width`` allows)."""
    channels, carriers = _channels_table(board), _carriers_table(board)
    if width < _SIDE_BY_SIDE_WIDTH:
        return Group(_countries_table(board), Text(""), channels, Text(""), carriers)
    lower = Table.grid(padding=(0, 4))
    lower.add_row(channels, carriers)
    return Group(_countries_table(board), Text(""), lower)


# -- progress -----------------------------------------------------------------------------


def _progress(view: DemoView) -> Table:
    grid = Table.grid(padding=(0, 1))
    for _ in range(4):
        grid.add_column()
    total = view.total
    grid.add_row(
        "produced ",
        ProgressBar(total=float(total or 0) or None, completed=view.produced, width=_BAR_WIDTH),
        _share(view.produced, total),
        f"{_count(view.produced)} / {_count(total) if total else '…'}"
        f"  {view.produce_rate:,.0f} events/s",
    )
    grid.add_row(
        "processed",
        ProgressBar(total=float(view.produced) or None, completed=view.processed, width=_BAR_WIDTH),
        _share(view.processed, view.produced),
        f"{_count(view.processed)} / {_count(view.produced)}  {view.process_rate:,.0f} events/s",
    )
    return grid


def _worker_line(view: DemoView) -> Text:
    worker = view.worker
    if worker is None or not worker.ready:
        return Text("worker: starting (joining its consumer group)…", style="yellow")
    dead = Text(_count(worker.dead_lettered), style="magenta" if worker.dead_lettered else "")
    return Text.assemble(
        f"worker: accepted {_count(worker.accepted)} · duplicates {_count(worker.duplicates)}"
        " · dead-lettered ",
        dead,
        f" · held {_count(worker.held)} · retries {_count(worker.retries)}",
    )


_MESSAGE_KINDS = (
    ("slack_alert", "Slack alerts"),
    ("apology_email", "apologies"),
    ("delay_notice", "delay notices"),
    ("vip_apology_task", "VIP tasks"),
)


def _segment(dims: Mapping[str, str]) -> str:
    return " / ".join(dims.values()) or "all"


def _alerts_table(alerts: tuple[AlertRecord, ...]) -> Table:
    table = _table(f"Alerts firing ({len(alerts)})")
    for name in ("since", "rule", "segment", "KPI", "value", "expected", "severity"):
        table.add_column(name)
    for alert in alerts[-8:]:
        table.add_row(
            stream_clock(alert.at),
            alert.rule,
            _segment(alert.segment),
            alert.kpi,
            "-" if alert.value is None else f"{alert.value:.3g}",
            "-" if alert.expected is None else f"{alert.expected:.3g}",
            Text(alert.severity, style="bold red" if alert.severity == "critical" else "yellow"),
        )
    return table


def _deliveries(view: DemoView) -> Mapping[str, int]:
    return view.worker.deliveries if view.worker is not None else {}


def _sent(view: DemoView) -> int:
    return sum(n for kind, n in _deliveries(view).items() if kind.endswith(":sent"))


def messages_line(view: DemoView) -> Text:
    """What the dispatcher delivered so far, and where the files are."""
    counts = _deliveries(view)
    parts = [f"{label} {_count(counts.get(f'{kind}:sent', 0))}" for kind, label in _MESSAGE_KINDS]
    held = counts.get("held", 0)
    line = "messages sent: " + " · ".join(parts) + (f" · held {_count(held)}" if held else "")
    if view.outbox:
        line += f"  (files in {view.outbox})"
    return Text(line)


def render_screen(view: DemoView, width: int = _SIDE_BY_SIDE_WIDTH) -> RenderableType:
    """One live frame: header, progress bars, worker totals and the figure tables."""
    header = Text.assemble(
        ("cxstream demo", "bold"),
        f"   stream time {stream_clock(view.stream_time)}   elapsed {_duration(view.elapsed_s)}",
    )
    parts: list[RenderableType] = [header, _progress(view), _worker_line(view)]
    parts.append(messages_line(view))
    if view.alerts:
        parts.append(_alerts_table(view.alerts))
    if view.finished:
        parts.append(Text("Stream fully processed: final figures.", style="bold green"))
    parts.append(board_tables(view.board, width))
    return Group(*parts)


def _figure_brief(figures: SegmentFigures) -> str:
    nps = "-" if figures.nps is None else f"{figures.nps:.1f}"
    late = "-" if figures.late_rate is None else f"{100.0 * figures.late_rate:.1f}%"
    return f"NPS {nps} late {late}"


def summary_line(view: DemoView) -> str:
    """One plain line for logs and pipes: progress and the 24-hour figures per country."""
    worker = view.worker
    dead = worker.dead_lettered if worker is not None else 0
    countries = " | ".join(f"{row.name} {_figure_brief(row.day)}" for row in view.board.countries)
    parts = [
        f"[{_duration(view.elapsed_s)}] stream time {stream_clock(view.stream_time)}",
        f"produced {_count(view.produced)}/{_count(view.total) if view.total else '…'}"
        f" ({view.produce_rate:,.0f}/s)",
        f"processed {_count(view.processed)} ({view.process_rate:,.0f}/s)",
        f"dead-lettered {_count(dead)}",
        f"alerts firing {len(view.alerts)}",
        f"messages sent {_count(_sent(view))}",
        f"24h: all {_figure_brief(view.board.shop.day)}",
    ]
    if countries:
        parts.append(countries)
    return " · ".join(parts)


def done_line(view: DemoView) -> str:
    """The closing line: what was produced and what the worker did with it."""
    worker = view.worker or WorkerStats()
    return (
        f"done: produced {view.produced} events, worker processed {worker.processed} "
        f"(accepted {worker.accepted}, duplicates {worker.duplicates}, "
        f"dead-lettered {worker.dead_lettered}) in {view.elapsed_s:.1f}s"
    )


def say(console: Console, message: str, style: str | None = None) -> None:
    """Print one message line as it is (no markup, no automatic highlighting)."""
    console.print(message, style=style, markup=False, highlight=False, soft_wrap=True)


class DemoDisplay:
    """A live frame on a terminal, or a plain summary line every few seconds otherwise."""

    def __init__(self, console: Console, clock: Clock, every_s: float = 5.0) -> None:
        self._console = console
        self._clock = clock
        self._every_s = every_s
        self._live: Live | None = None
        self._last_line: float | None = None

    def __enter__(self) -> DemoDisplay:
        if self._console.is_terminal:
            self._live = Live(console=self._console, auto_refresh=False)
            self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.stop()

    def show(self, view: DemoView) -> None:
        if self._live is not None:
            self._live.update(render_screen(view, self._console.width), refresh=True)
            return
        now = self._clock.monotonic()
        if self._last_line is None or now - self._last_line >= self._every_s:
            self._last_line = now
            say(self._console, summary_line(view))

    def finish(self, view: DemoView, *, follow: bool) -> None:
        """Show the final figures for good (a frame that stays, or the tables as text)."""
        if self._live is not None:
            self._live.update(render_screen(view, self._console.width), refresh=True)
            self._live.stop()
            self._live = None
        else:
            say(self._console, summary_line(view))
            self._console.print(board_tables(view.board, self._console.width))
        say(self._console, done_line(view))
        if follow:
            say(self._console, "Press Ctrl-C to stop.")
