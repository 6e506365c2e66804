"""Drill-down names the sub-segment that carries a deviation, and only then."""

from __future__ import annotations

from cxstream.drilldown import KpiPoint, explain, is_child


def test_the_child_carrying_the_drop_explains_it() -> None:
    parent = KpiPoint(value=0.30, expected=0.15, volume=100)
    children = {
        "country=DE,channel=app": KpiPoint(0.525, None, 40),
        "country=DE,channel=web": KpiPoint(0.15, None, 60),
    }
    found = explain(parent, children)
    assert found is not None
    assert found.series_id == "country=DE,channel=app"
    assert found.deviation_share == 1.0
    assert found.volume_share == 0.4


def test_a_deviation_spread_evenly_has_no_explaining_child() -> None:
    parent = KpiPoint(0.30, 0.15, 100)
    children = {"a": KpiPoint(0.30, None, 50), "b": KpiPoint(0.30, None, 50)}
    assert explain(parent, children) is None


def test_a_big_child_moving_like_its_parent_does_not_explain_it() -> None:
    parent = KpiPoint(0.30, 0.15, 100)
    children = {"regular": KpiPoint(0.30, None, 90), "vip": KpiPoint(0.30, None, 10)}
    assert explain(parent, children) is None


def test_no_expectation_no_explanation() -> None:
    assert explain(KpiPoint(0.3, None, 10), {"a": KpiPoint(0.9, None, 5)}) is None


def test_children_have_exactly_one_more_dimension() -> None:
    assert is_child({"country": "DE"}, {"country": "DE", "channel": "app"})
    assert not is_child({"country": "DE"}, {"country": "FR", "channel": "app"})
    assert not is_child({"country": "DE"}, {"country": "DE", "channel": "app", "segment": "vip"})
