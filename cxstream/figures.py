"""Per-segment figures (responses, NPS, detractor and late-delivery rates) from counters."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cxstream.store import StateStore

__all__ = ["SegmentFigures", "collect_figures", "figures_from_counters", "sum_counters"]


def _rate(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


def sum_counters(buckets: Mapping[int, Mapping[str, float]]) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    for counters in buckets.values():
        for name, value in counters.items():
            total[name] += value
    return dict(total)


@dataclass(frozen=True, slots=True)
class SegmentFigures:
    """The headline figures of one segment over some period."""

    responses: int
    nps: float | None
    detractor_rate: float | None
    deliveries: int
    late_rate: float | None
    exceptions: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "responses": self.responses,
            "nps": self.nps,
            "detractor_rate": self.detractor_rate,
            "deliveries": self.deliveries,
            "late_rate": self.late_rate,
            "exceptions": self.exceptions,
        }


def figures_from_counters(c: Mapping[str, float]) -> SegmentFigures:
    """
    >>> f = figures_from_counters({"responses": 10, "promoters": 5, "detractors": 2})
    >>> f.nps, f.detractor_rate
    (30.0, 0.2)
    """
    responses = c.get("responses", 0.0)
    nps = (
        round(100.0 * (c.get("promoters", 0.0) - c.get("detractors", 0.0)) / responses, 4)
        if responses
        else None
    )
    delivered = c.get("delivered", 0.0)
    return SegmentFigures(
        responses=int(responses),
        nps=nps,
        detractor_rate=_rate(c.get("detractors", 0.0), responses),
        deliveries=int(delivered),
        late_rate=_rate(c.get("delivered_late", 0.0), delivered),
        exceptions=int(c.get("exceptions", 0.0)),
    )


async def collect_figures(store: StateStore, bucket_seconds: int) -> list[dict[str, Any]]:
    """Figures per series and event-time day (UTC), with the raw counters, sorted."""
    series = await store.series()
    ids = sorted(series)
    buckets = await store.read_buckets(ids)
    rows: list[dict[str, Any]] = []
    for sid in ids:
        per_day: dict[date, dict[int, dict[str, float]]] = defaultdict(dict)
        for bucket, counters in buckets[sid].items():
            day = datetime.fromtimestamp(bucket * bucket_seconds, tz=UTC).date()
            per_day[day][bucket] = counters
        for day in sorted(per_day):
            counters = sum_counters(per_day[day])
            rows.append(
                {
                    "series": sid,
                    "segment": series[sid],
                    "day": day.isoformat(),
                    **figures_from_counters(counters).as_dict(),
                    "counters": {k: int(v) for k, v in sorted(counters.items())},
                }
            )
    return rows
