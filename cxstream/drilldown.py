"""Drill-down: which sub-segment explains a segment's deviation.

When a KPI of a segment (say NPS in ``DE``) deviates, ops want to know where: is it
the whole country, or ``DE / app``? A child segment (the parent's dimensions plus
one more, e.g. ``channel=app``) *explains* the deviation when it carries most of it
while holding a much smaller part of the volume. With the parent's expected value
``e``, a child's part of the deviation is ``volume_child * (value_child - e)`` out of
``volume_parent * (value_parent - e)``; the explaining child is the one whose share of
the deviation exceeds its share of the volume by the most, provided that its share
of the deviation is at least ``min_deviation_share`` and exceeds its volume share by
at least ``min_gain``. A deviation spread evenly over all children (every child
moved alike) has no explaining child: then the parent is the right place to alert.

>>> parent = KpiPoint(value=10.0, expected=30.0, volume=1000)
>>> children = {
...     "country=DE,channel=app": KpiPoint(value=-20.0, expected=None, volume=400),
...     "country=DE,channel=web": KpiPoint(value=30.0, expected=None, volume=600),
... }
>>> found = explain(parent, children)
>>> found.series_id, round(found.deviation_share, 2), round(found.volume_share, 2)
('country=DE,channel=app', 1.0, 0.4)
>>> even = {"country=DE,segment=new": KpiPoint(10.0, None, 500),
...         "country=DE,segment=regular": KpiPoint(10.0, None, 500)}
>>> explain(parent, even) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Explanation", "KpiPoint", "explain", "is_child"]


@dataclass(frozen=True, slots=True)
class KpiPoint:
    """A KPI's value in one window of one segment, with its volume."""

    value: float
    expected: float | None
    volume: int


@dataclass(frozen=True, slots=True)
class Explanation:
    """The child segment that carries a parent's deviation."""

    series_id: str
    point: KpiPoint
    deviation_share: float
    volume_share: float


def is_child(parent: Mapping[str, str], child: Mapping[str, str]) -> bool:
    """Whether ``child`` has all of ``parent``'s dimension values and exactly one more."""
    return len(child) == len(parent) + 1 and all(child.get(k) == v for k, v in parent.items())


def explain(
    parent: KpiPoint,
    children: Mapping[str, KpiPoint],
    *,
    min_deviation_share: float = 0.5,
    min_gain: float = 0.2,
) -> Explanation | None:
    """The child that explains ``parent``'s deviation from its expected value, if any."""
    if parent.expected is None or parent.volume <= 0:
        return None
    total = parent.volume * (parent.value - parent.expected)
    if total == 0:
        return None
    best: Explanation | None = None
    best_gain = min_gain
    for sid in sorted(children):
        point = children[sid]
        deviation_share = point.volume * (point.value - parent.expected) / total
        volume_share = point.volume / parent.volume
        gain = deviation_share - volume_share
        if deviation_share >= min_deviation_share and gain >= best_gain:
            best, best_gain = Explanation(sid, point, deviation_share, volume_share), gain
    return best
