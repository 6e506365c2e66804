"""Where the traffic-light report's data comes from: counters, firing alerts and silences.

A :class:`ReportSource` gives the report builder four things:

* the series (segments) there are, with their dimensions;
* their counters per *period*: period ``p`` covers ``[p * period_seconds,
  (p + 1) * period_seconds)`` seconds after the UTC epoch (the shape of
  :meth:`~cxstream.store.StateStore.read_buckets`);
* the alerts firing now, and the silences active at a given time.

Two sources exist:

* :class:`StoreReportSource` reads a :class:`~cxstream.store.StateStore` (Redis in
  production, the in-memory store in tests and offline runs); its periods are the
  engine's counter buckets (``bucket_seconds``), so any window made of whole buckets
  works (``1h``, ``1d``). Firing alerts and silences come from the
  :class:`~cxstream.firing.FiringAlerts` and
  :class:`~cxstream.rules.silences.SilenceStore` given to it (none if not given).
  :meth:`StoreReportSource.from_settings` connects all three to the configured Redis.
* :class:`ReplayOutputSource` reads the output directory of ``cxstream replay``:
  ``figures.jsonl`` (counters per series and UTC day) and ``alerts.jsonl`` (alert state
  changes; the last line of an alert id says whether it is still firing). Its periods
  are days, so it supports the window ``1d`` only and says so
  (:class:`UnsupportedWindowError`) for any other.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

from cxstream.config import Settings
from cxstream.firing import FiringAlerts
from cxstream.jsonl import LineReader
from cxstream.records import AlertRecord
from cxstream.redis_store import RedisStateStore
from cxstream.rules.base import format_duration, parse_duration
from cxstream.rules.silences import Silence, SilenceStore
from cxstream.store import StateStore

__all__ = [
    "DAY_SECONDS",
    "PeriodCounters",
    "ReplayOutputError",
    "ReplayOutputSource",
    "ReportSource",
    "SourceKind",
    "StoreReportSource",
    "UnsupportedWindowError",
]

#: Which kind of data a report was built from (the report's ``source``).
SourceKind = Literal["redis", "replay", "memory"]
DAY_SECONDS = 86_400
_EPOCH_DAY = date(1970, 1, 1)

#: Counters per series and period: ``series -> period -> counter -> value``.
PeriodCounters = dict[str, dict[int, dict[str, float]]]


class UnsupportedWindowError(ValueError):
    """A report window the source cannot compute (not whole periods of its data)."""


class ReplayOutputError(ValueError):
    """A replay output directory that cannot be read (missing or broken files)."""


class ReportSource(Protocol):
    """What the report builder reads."""

    @property
    def kind(self) -> SourceKind:
        """``redis``, ``memory`` or ``replay``."""
        ...

    @property
    def period_seconds(self) -> int:
        """Length of the periods counters are kept per (bucket or day)."""
        ...

    @property
    def windows(self) -> tuple[str, ...]:
        """The windows to offer on the page (each must pass :meth:`check_window`)."""
        ...

    def check_window(self, window: timedelta) -> None:
        """Raise :class:`UnsupportedWindowError` if the source cannot give ``window``."""
        ...

    async def series(self) -> dict[str, dict[str, str]]:
        """Every series with data, with its dimensions."""
        ...

    async def periods(
        self, series: Sequence[str], first: int | None = None, last: int | None = None
    ) -> PeriodCounters:
        """Counters per period of each series, periods ``first`` to ``last`` included
        (``None``: unbounded)."""
        ...

    async def firing(self) -> list[AlertRecord]:
        """The alerts firing now."""
        ...

    async def silences(self, at: datetime) -> list[Silence]:
        """The silences active at ``at``."""
        ...


def _is_whole(window: timedelta, period_seconds: int) -> bool:
    seconds = window.total_seconds()
    return seconds > 0 and seconds % period_seconds == 0


def _whole_periods(window: timedelta, period_seconds: int, what: str) -> None:
    if not _is_whole(window, period_seconds):
        raise UnsupportedWindowError(
            f"window {format_duration(window)} is not a whole number of the {period_seconds} s"
            f" {what}s the counters are kept in; use e.g. 1h or 1d"
        )


class StoreReportSource:
    """The report's data from a state store, its firing alerts and its silences.

    ``kind`` defaults to ``redis`` for a :class:`~cxstream.redis_store.RedisStateStore`
    and ``memory`` otherwise; ``windows`` (offered on the page) keeps those made of
    whole buckets.
    """

    def __init__(
        self,
        store: StateStore,
        bucket_seconds: int,
        *,
        firing: FiringAlerts | None = None,
        silences: SilenceStore | None = None,
        kind: SourceKind | None = None,
        windows: tuple[str, ...] = ("1h", "1d"),
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if bucket_seconds <= 0:
            raise ValueError("bucket_seconds must be positive")
        self.store = store
        self.bucket_seconds = bucket_seconds
        self.firing_alerts = firing
        self.silence_store = silences
        self._kind: SourceKind = kind or (
            "redis" if isinstance(store, RedisStateStore) else "memory"
        )
        self._windows = tuple(w for w in windows if _is_whole(parse_duration(w), bucket_seconds))
        self._close = close

    @classmethod
    def from_settings(cls, settings: Settings) -> StoreReportSource:
        """A source on the configured Redis: its state store, firing alerts and silences
        (one connection; :meth:`close` closes it)."""
        from cxstream.firing import RedisFiringAlerts
        from cxstream.rules.silences import RedisSilenceStore

        store = RedisStateStore.from_settings(settings)
        return cls(
            store,
            settings.bucket_seconds,
            firing=RedisFiringAlerts(store.client, settings.key_prefix),
            silences=RedisSilenceStore(store.client, settings.key_prefix),
            close=store.close,
        )

    async def close(self) -> None:
        """Close the connection :meth:`from_settings` opened (nothing otherwise)."""
        if self._close is not None:
            await self._close()

    @property
    def kind(self) -> SourceKind:
        return self._kind

    @property
    def period_seconds(self) -> int:
        return self.bucket_seconds

    @property
    def windows(self) -> tuple[str, ...]:
        return self._windows

    def check_window(self, window: timedelta) -> None:
        _whole_periods(window, self.bucket_seconds, "bucket")

    async def series(self) -> dict[str, dict[str, str]]:
        return await self.store.series()

    async def periods(
        self, series: Sequence[str], first: int | None = None, last: int | None = None
    ) -> PeriodCounters:
        if not series:
            return {}
        return await self.store.read_buckets(list(series), first, last)

    async def firing(self) -> list[AlertRecord]:
        return [] if self.firing_alerts is None else await self.firing_alerts.firing()

    async def silences(self, at: datetime) -> list[Silence]:
        return [] if self.silence_store is None else await self.silence_store.active(at)


def _day_index(day: str) -> int:
    return (date.fromisoformat(day) - _EPOCH_DAY).days


class ReplayOutputSource:
    """The report's data from a ``cxstream replay`` output directory (daily figures).

    ``figures.jsonl`` must exist; ``alerts.jsonl`` may be missing (then nothing fires).
    Silences come from ``silences`` if given (none otherwise: a replay has no silence
    store of its own). The files are read once, on first use.
    """

    FIGURES = "figures.jsonl"
    ALERTS = "alerts.jsonl"

    def __init__(self, out_dir: Path | str, *, silences: SilenceStore | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.silence_store = silences
        self._dims: dict[str, dict[str, str]] | None = None
        self._days: PeriodCounters = {}

    @property
    def kind(self) -> SourceKind:
        return "replay"

    @property
    def period_seconds(self) -> int:
        return DAY_SECONDS

    @property
    def windows(self) -> tuple[str, ...]:
        return ("1d",)

    def check_window(self, window: timedelta) -> None:
        if window != timedelta(days=1):
            raise UnsupportedWindowError(
                f"the replay output in {self.out_dir} holds figures per UTC day"
                f" ({self.FIGURES}), so its report supports the window 1d only, not"
                f" {format_duration(window)}; for hourly windows build the report from the"
                " state store (the configured Redis, e.g. after a replay with --store redis)"
            )

    def _load(self) -> tuple[dict[str, dict[str, str]], PeriodCounters]:
        if self._dims is not None:
            return self._dims, self._days
        path = self.out_dir / self.FIGURES
        if not path.is_file():
            raise ReplayOutputError(
                f"no {self.FIGURES} in {self.out_dir}: give the --out directory of a"
                " finished `cxstream replay`"
            )
        dims: dict[str, dict[str, str]] = {}
        days: PeriodCounters = {}
        for line_no, raw in LineReader(path):
            try:
                row = json.loads(raw)
                sid = str(row["series"])
                segment = {str(k): str(v) for k, v in row["segment"].items()}
                day = _day_index(str(row["day"]))
                counters = {str(k): float(v) for k, v in row["counters"].items()}
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise ReplayOutputError(
                    f"{path}:{line_no}: not a figures row ({error!r}); expected"
                    " {series, segment, day, counters, ...}"
                ) from None
            dims.setdefault(sid, segment)
            target = days.setdefault(sid, {}).setdefault(day, {})
            for name, value in counters.items():
                target[name] = target.get(name, 0.0) + value
        self._dims, self._days = dims, days
        return dims, days

    async def series(self) -> dict[str, dict[str, str]]:
        dims, _ = self._load()
        return {sid: dict(d) for sid, d in dims.items()}

    async def periods(
        self, series: Sequence[str], first: int | None = None, last: int | None = None
    ) -> PeriodCounters:
        _, days = self._load()
        low = -(2**62) if first is None else first
        high = 2**62 if last is None else last
        return {
            sid: {d: dict(c) for d, c in days.get(sid, {}).items() if low <= d <= high}
            for sid in series
        }

    async def firing(self) -> list[AlertRecord]:
        """The alerts whose last line in ``alerts.jsonl`` is ``firing``, by id."""
        path = self.out_dir / self.ALERTS
        if not path.is_file():
            return []
        latest: dict[str, AlertRecord] = {}
        for line_no, raw in LineReader(path):
            try:
                record = AlertRecord.model_validate_json(raw)
            except ValueError as error:
                raise ReplayOutputError(f"{path}:{line_no}: not an alert line: {error}") from None
            latest[record.alert_id] = record
        return [latest[k] for k in sorted(latest) if latest[k].status == "firing"]

    async def silences(self, at: datetime) -> list[Silence]:
        return [] if self.silence_store is None else await self.silence_store.active(at)
