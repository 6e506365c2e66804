"""Corrections: how events that arrived after a window was judged change its KPIs.

The detection stage judges a window once, when the watermark has passed its end by
the allowed lateness. Later events are counted all the same (the report and the next
windows see them) and leave notes (:mod:`cxstream.late_events`); for every note whose
window was already judged, the stage recomputes the window's KPIs with and without
the late events and emits a :class:`~cxstream.records.CorrectionRecord` for each KPI
that moved. Detector state and alerts are not rewound: a correction reports, it does
not re-judge.

>>> from datetime import UTC, datetime, timedelta
>>> from cxstream.windows import WindowSpec, WindowTracker, bucket_of
>>> spec = WindowSpec(size=timedelta(hours=1), allowed_lateness=timedelta(minutes=10))
>>> tracker = WindowTracker(spec, start=datetime(2026, 3, 2, 8, tzinfo=UTC))
>>> _ = tracker.advance(datetime(2026, 3, 2, 10, 30, tzinfo=UTC))  # 8:00 and 9:00 judged
>>> ts = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
>>> late = LateEvent("e-9", ts.timestamp(), bucket_of(ts, 900), ("country=DE",),
...                  {"responses": 1, "detractors": 1})
>>> found = affected_windows(tracker, [late], {"country=DE"})
>>> buckets = {bucket_of(ts, 900): {"responses": 10, "promoters": 5, "detractors": 2}}
>>> [(c.kpi, c.previous, c.value) for c in corrections_of(
...     "nps-watch", spec, found, buckets_by_series={"country=DE": buckets},
...     dims={"country=DE": {"country": "DE"}}, kpis=["nps"])]
[('nps', 44.44444444444444, 30.0)]
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime

from cxstream.kpis import compute_kpis
from cxstream.late_events import LateEvent
from cxstream.records import CorrectionRecord, correction_id
from cxstream.windows import Window, WindowSpec, WindowTracker, window_counters, window_name

__all__ = ["affected_windows", "corrections_of"]

#: A KPI that moved less than this is not corrected (float noise).
_TOLERANCE = 1e-9


def affected_windows(
    tracker: WindowTracker, notes: Iterable[LateEvent], watched: Collection[str]
) -> dict[tuple[Window, str], list[LateEvent]]:
    """The judged windows of the watched series that the noted events change, with the
    events that change each."""
    found: dict[tuple[Window, str], list[LateEvent]] = {}
    for note in notes:
        windows = tracker.corrections_for(note.bucket)
        if not windows:
            continue  # its window was not judged yet: the judgement will include it
        for sid in note.series:
            if sid not in watched:
                continue
            for window in windows:
                found.setdefault((window, sid), []).append(note)
    return found


def corrections_of(
    rule: str,
    spec: WindowSpec,
    found: Mapping[tuple[Window, str], Sequence[LateEvent]],
    *,
    buckets_by_series: Mapping[str, Mapping[int, Mapping[str, float]]],
    dims: Mapping[str, Mapping[str, str]],
    kpis: Sequence[str],
) -> list[CorrectionRecord]:
    """One record per KPI the late events moved, per window and series, oldest first.

    ``buckets_by_series`` holds the series' counters now (late events included).
    """
    label = window_name(spec)
    out: list[CorrectionRecord] = []
    for (window, sid), notes in sorted(found.items()):
        after = window_counters(buckets_by_series.get(sid, {}), window, spec.bucket_seconds)
        before = dict(after)
        for note in notes:
            for name, delta in note.counters.items():
                before[name] = before.get(name, 0.0) - delta
        now = compute_kpis(after, kpis)
        then = compute_kpis(before, kpis)
        at = datetime.fromtimestamp(max(n.ts for n in notes), tz=UTC)
        ids = [n.event_id for n in notes]
        for name, value in now.items():
            old = then.get(name)
            if (
                old is not None
                and old.volume == value.volume
                and abs(old.value - value.value) <= _TOLERANCE
            ):
                continue
            out.append(
                CorrectionRecord(
                    correction_id=correction_id(rule, label, sid, name, window.start, ids),
                    rule=rule,
                    at=at,
                    kpi=name,
                    segment=dict(dims.get(sid, {})),
                    window=label,
                    window_start=window.start,
                    window_end=window.end,
                    value=value.value,
                    volume=int(value.volume),
                    previous=None if old is None else old.value,
                    previous_volume=0 if old is None else int(old.volume),
                    late_events=len(notes),
                )
            )
    return out
