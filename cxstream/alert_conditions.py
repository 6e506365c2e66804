"""From a window's judged KPIs to alert conditions.

:func:`detected_conditions` turns the detections of a window into alert conditions:
only deviations for the worse (unless a rule asks for better too) with a score over
the threshold, named after the sub-segment that carries most of the deviation
(drill-down, :mod:`cxstream.drilldown`), with the evidence (reasons, late share), and
one condition per deviation (a sub-segment that is part of its parent's deviation
raises no second one). :func:`threshold_conditions` does the same for rules with fixed
limits. :class:`~cxstream.alerting.AlertTracker` turns conditions into alert state.
"""

from __future__ import annotations

from collections.abc import Mapping

from cxstream.alerting import AlertCondition
from cxstream.detection import Detection
from cxstream.detectors.base import p_to_score
from cxstream.drilldown import KpiPoint, explain, is_child
from cxstream.kpis import compute_kpis, parse_kpi
from cxstream.watches import Watch
from cxstream.windows import Window, window_counters

__all__ = ["detected_conditions", "threshold_conditions"]


def detected_conditions(
    watch: Watch,
    window: Window,
    watched: Mapping[str, Mapping[str, str]],
    counters: Mapping[str, Mapping[str, float]],
    detections: Mapping[str, list[Detection]],
) -> dict[str, AlertCondition]:
    """The alert conditions of a window's detections: worse (or better, if asked) with a
    score over the threshold, named after the sub-segment that explains them
    (drill-down), one per deviation."""
    config = watch.detection
    alerting = watch.alerting
    decades = config.detector.decades
    own: dict[tuple[str, str], Detection] = {
        (sid, d.kpi): d for sid, found in detections.items() for d in found
    }
    conditions: dict[str, AlertCondition] = {}
    covered: dict[tuple[str, str], str] = {}
    for (_, kpi), d in sorted(own.items()):
        raw_score = p_to_score(d.p_value, decades)
        if d.direction != "worse" and not (d.direction == "better" and config.alert_on_better):
            continue
        if raw_score < config.score_threshold:
            continue
        evidence = _evidence(d)
        named, value, expected = d.dims, d.observed, d.expected
        band_low, band_high, volume = d.band_low, d.band_high, d.volume
        if alerting.drilldown:
            min_volume = config.min_volume_for(kpi)
            children = {
                cid: KpiPoint(v.value, None, v.volume)
                for cid in counters
                if is_child(d.dims, watched[cid])
                for v in compute_kpis(counters[cid], [kpi]).values()
                if v.volume >= min_volume
            }
            found = explain(
                KpiPoint(d.observed, d.expected, d.volume),
                children,
                min_deviation_share=alerting.min_deviation_share,
                min_gain=alerting.min_gain,
            )
            if found is not None:
                child = own.get((found.series_id, kpi))
                named = watched[found.series_id]
                value, volume = found.point.value, found.point.volume
                if child is not None and child.expected is not None:
                    expected, band_low, band_high = (
                        child.expected,
                        child.band_low,
                        child.band_high,
                    )
                evidence["drilldown"] = {
                    "parent": dict(d.dims),
                    "parent_value": d.observed,
                    "parent_expected": d.expected,
                    "deviation_share": round(found.deviation_share, 4),
                    "volume_share": round(found.volume_share, 4),
                }
        condition = AlertCondition(
            dims=dict(named),
            kpi=kpi,
            window=window,
            value=value,
            expected=expected,
            score=d.score,
            raw_score=raw_score,
            new=d.anomalous
            and raw_score >= alerting.fire_score
            and _excess_events(d) >= alerting.min_excess_events,
            band_low=band_low,
            band_high=band_high,
            volume=volume,
            evidence=evidence,
        )
        covered[(d.series_id, kpi)] = condition.key
        previous = conditions.get(condition.key)
        if previous is None or (condition.raw_score, condition.new) > (
            previous.raw_score,
            previous.new,
        ):
            conditions[condition.key] = condition
    # One deviation, one alert: a sub-segment's condition is part of its parent's
    # deviation (whether the parent names it or itself), unless it is what the
    # parent's alert names.
    parents = {sid: watched[sid] for sid, _ in covered}
    for key, condition in list(conditions.items()):
        for parent_sid, parent_dims in parents.items():
            named_key = covered.get((parent_sid, condition.kpi))
            if named_key is not None and named_key != key and is_child(parent_dims, condition.dims):
                del conditions[key]
                break
    return conditions


def threshold_conditions(
    watch: Watch,
    bucket_seconds: int,
    window: Window,
    watched: Mapping[str, Mapping[str, str]],
    data: Mapping[str, Mapping[int, Mapping[str, float]]],
) -> tuple[dict[str, AlertCondition], set[str]]:
    """A rule with fixed limits: the segments' KPIs beyond them (with enough volume), and
    the keys of every KPI that was judged."""
    limits = watch.threshold
    assert limits is not None
    config = watch.detection
    conditions: dict[str, AlertCondition] = {}
    scored: set[str] = set()
    for sid in sorted(watched):
        c = window_counters(data.get(sid, {}), window, bucket_seconds)
        for value in compute_kpis(c, config.kpis).values():
            if value.volume < config.min_volume_for(value.name):
                continue
            scored.add(f"{sid}|{value.name}")
            limit: float | None = None
            if limits.above is not None and value.value > limits.above:
                limit = limits.above
            elif limits.below is not None and value.value < limits.below:
                limit = limits.below
            if limit is None:
                continue
            condition = AlertCondition(
                dims=dict(watched[sid]),
                kpi=value.name,
                window=window,
                value=value.value,
                expected=limit,
                score=1.0,
                raw_score=1.0,
                new=True,
                volume=value.volume,
                evidence={"series": sid, "threshold": limit},
            )
            conditions[condition.key] = condition
    return conditions, scored


def _excess_events(d: Detection) -> float:
    """Events beyond the expected count, for KPIs that count events (others: infinite)."""
    kpi = parse_kpi(d.kpi)
    if not (kpi.proportion or kpi.counted) or d.expected is None:
        return float("inf")
    return abs(d.observed - d.expected) * d.volume


def _evidence(d: Detection) -> dict[str, object]:
    evidence: dict[str, object] = {"p_value": d.p_value, "series": d.series_id}
    if d.evidence is not None:
        evidence["reasons"] = [
            {
                "code": r.code,
                "share": round(r.share, 4),
                "baseline_share": round(r.baseline_share, 4),
            }
            for r in d.evidence.reasons
        ]
        if d.evidence.late_detractor_share is not None:
            evidence["late_detractor_share"] = round(d.evidence.late_detractor_share, 4)
    return evidence
