"""The live per-segment figures ``cxstream demo`` shows, read back from the state store.

:class:`LiveFigures` turns the store's event-time buckets into a :class:`FigureBoard`:
the whole shop, each country, country by channel and country by carrier, over the
last 24 hours of stream time and over the whole stream. Late in a long stream a
refresh costs what it costs early on, as only buckets that may still change are read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cxstream.figures import SegmentFigures, figures_from_counters, sum_counters
from cxstream.series import ALL_SERIES_ID
from cxstream.store import StateStore

__all__ = ["NO_FIGURES", "CarrierRow", "CountryRow", "FigureBoard", "LiveFigures", "build_board"]

_MIN_CARRIER_DELIVERIES = 10
_SHOWN_SHAPES = frozenset(
    frozenset(dims) for dims in ((), ("country",), ("country", "channel"), ("country", "carrier"))
)

#: Counters whose newest bucket tells how far each input kind has been processed.
_PACE = ("responses", "placed")

Counters = dict[str, float]

#: The figures of a segment without any events.
NO_FIGURES = SegmentFigures(0, None, None, 0, None, 0)


@dataclass(frozen=True, slots=True)
class CountryRow:
    """One segment's figures over the last 24 hours of stream time and over the whole run."""

    name: str
    day: SegmentFigures
    total: SegmentFigures


@dataclass(frozen=True, slots=True)
class CarrierRow:
    """One carrier's figures in one country, over the last 24 hours and the whole run."""

    country: str
    carrier: str
    day: SegmentFigures
    total: SegmentFigures


@dataclass(frozen=True, slots=True)
class FigureBoard:
    """The live figures read from Redis; ``as_of`` is the end of the 24-hour window."""

    as_of: datetime | None = None
    shop: CountryRow = CountryRow("all", NO_FIGURES, NO_FIGURES)
    countries: tuple[CountryRow, ...] = ()
    #: ``(country, channel)`` -> figures of the last 24 hours.
    channels: Mapping[tuple[str, str], SegmentFigures] = field(default_factory=dict)
    carriers: tuple[CarrierRow, ...] = ()


class LiveFigures:
    """Reads the series the screen shows, re-reading only the buckets that may still change.

    The figures run up to the *frontier*: the newest bucket that both answers and
    placed orders have reached, so that the 24-hour window is complete for both. A
    bucket more than ``margin_s`` before the frontier is taken as final: it is added
    to its series' running total once, kept only while inside the window, and not read
    again, so a refresh late in a long stream costs what it costs early on. A ``full``
    refresh reads everything again (for the final figures).
    """

    def __init__(self, store: StateStore, bucket_seconds: int, margin_s: float = 43_200) -> None:
        self._store = store
        self._bucket_s = bucket_seconds
        self._per_day = max(1, 86_400 // bucket_seconds)
        self._margin = max(1, int(margin_s // bucket_seconds))
        self._dims: dict[str, dict[str, str]] = {}
        self._recent: dict[str, dict[int, Counters]] = {}
        self._settled: dict[str, Counters] = {}
        self._floor: dict[str, int] = {}

    async def refresh(self, *, full: bool = False) -> FigureBoard:
        """Read what changed and return the figures up to the frontier."""
        if full:
            self._recent.clear()
            self._settled.clear()
            self._floor.clear()
        index = await self._store.series()
        self._dims = {sid: d for sid, d in index.items() if frozenset(d) in _SHOWN_SHAPES}
        by_floor: dict[int | None, list[str]] = defaultdict(list)
        for sid in sorted(self._dims):
            by_floor[self._floor.get(sid)].append(sid)
        for first, ids in by_floor.items():
            fresh = await self._store.read_buckets(ids, first)
            for sid in ids:
                old = self._recent.get(sid, {})
                kept = {b: c for b, c in old.items() if first is not None and b < first}
                self._recent[sid] = kept | fresh[sid]
        end = self._frontier()
        if end is None:
            return FigureBoard()
        window = end - self._per_day + 1
        floor = end + 1 if full else end - self._margin
        for sid in self._dims:
            self._advance(sid, floor, window)
        as_of = datetime.fromtimestamp((end + 1) * self._bucket_s, UTC)
        return self._board(as_of, window, end)

    def _frontier(self) -> int | None:
        """The newest bucket of the whole shop with both answers and placed orders."""
        shop = self._recent.get(ALL_SERIES_ID, {})
        newest = [max((b for b, c in shop.items() if c.get(name)), default=None) for name in _PACE]
        reached = [bucket for bucket in newest if bucket is not None]
        return min(reached) if reached else None

    def _advance(self, sid: str, floor: int, window: int) -> None:
        """Fold the buckets that became final into the series' total; drop old ones."""
        recent = self._recent[sid]
        old = self._floor.get(sid)
        if old is None or floor > old:
            total = self._settled.setdefault(sid, {})
            for bucket, counters in recent.items():
                if bucket < floor and (old is None or bucket >= old):
                    for name, value in counters.items():
                        total[name] = total.get(name, 0.0) + value
            self._floor[sid] = floor
        low = min(self._floor[sid], window)
        self._recent[sid] = {b: c for b, c in recent.items() if b >= low}

    def _board(self, as_of: datetime, window: int, end: int) -> FigureBoard:
        day: dict[str, SegmentFigures] = {}
        total: dict[str, SegmentFigures] = {}
        for sid in self._dims:
            recent = self._recent.get(sid, {})
            floor = self._floor.get(sid)
            unsettled = {b: c for b, c in recent.items() if floor is None or b >= floor}
            unsettled[-1] = self._settled.get(sid, {})
            total[sid] = figures_from_counters(sum_counters(unsettled))
            in_window = {b: c for b, c in recent.items() if window <= b <= end}
            day[sid] = figures_from_counters(sum_counters(in_window))
        return build_board(as_of, self._dims, day, total)


def build_board(
    as_of: datetime,
    dims: Mapping[str, Mapping[str, str]],
    day: Mapping[str, SegmentFigures],
    total: Mapping[str, SegmentFigures],
) -> FigureBoard:
    """Arrange per-series figures (24 h and whole stream) into the screen's rows."""
    countries: list[CountryRow] = []
    channels: dict[tuple[str, str], SegmentFigures] = {}
    carriers: list[CarrierRow] = []
    shop = CountryRow("all", NO_FIGURES, NO_FIGURES)
    for sid, d in dims.items():
        keys = set(d)
        if not keys:
            shop = CountryRow("all", day[sid], total[sid])
        elif keys == {"country"}:
            countries.append(CountryRow(d["country"], day[sid], total[sid]))
        elif keys == {"country", "channel"}:
            channels[(d["country"], d["channel"])] = day[sid]
        elif keys == {"country", "carrier"}:
            carriers.append(CarrierRow(d["country"], d["carrier"], day[sid], total[sid]))
    countries.sort(key=lambda row: (-row.total.responses, row.name))
    carriers.sort(key=_carrier_rank, reverse=True)
    return FigureBoard(as_of, shop, tuple(countries), channels, tuple(carriers))


def _carrier_rank(row: CarrierRow) -> tuple[bool, float, float]:
    """Carriers with enough deliveries in the window first, the latest at the top."""
    late = row.day.late_rate
    enough = row.day.deliveries >= _MIN_CARRIER_DELIVERIES and late is not None
    return (enough, late or 0.0, row.total.late_rate or 0.0)
