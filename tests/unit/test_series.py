"""Segment series ids are stable, reversible and safe to embed in Redis hash tags.

Covers :func:`series_id` / :func:`series_dims` (order independence, round trip for any
values, no characters that would break keys) and which series an event contributes to.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.config import DEFAULT_SERIES, DIMENSIONS
from cxstream.series import (
    ALL_SERIES_ID,
    series_dims,
    series_for_values,
    series_id,
    series_ids_for,
)

dimension_values = st.dictionaries(st.sampled_from(DIMENSIONS), st.text(max_size=20))


def test_empty_combination_is_the_whole_shop() -> None:
    assert series_id({}) == ALL_SERIES_ID == "all"
    assert series_dims("all") == {}


def test_id_does_not_depend_on_the_order_of_dimensions() -> None:
    assert series_id({"carrier": "dhl", "country": "DE"}) == "country=DE,carrier=dhl"
    assert series_id({"country": "DE", "carrier": "dhl"}) == "country=DE,carrier=dhl"


def test_values_with_separators_and_braces_are_escaped() -> None:
    sid = series_id({"country": "DE", "region": "a,b=c{x}"})
    assert sid.count(",") == 1
    assert sid.count("=") == 2
    assert "{" not in sid
    assert "}" not in sid
    assert series_dims(sid) == {"country": "DE", "region": "a,b=c{x}"}


@settings(deadline=None, max_examples=200)
@given(dims=dimension_values)
def test_id_round_trips_for_any_values(dims: dict[str, str]) -> None:
    sid = series_id(dims)
    assert series_dims(sid) == dims
    assert "{" not in sid
    assert "}" not in sid
    assert " " not in sid


@settings(deadline=None, max_examples=100)
@given(first=dimension_values, second=dimension_values)
def test_different_segments_get_different_ids(
    first: dict[str, str], second: dict[str, str]
) -> None:
    if first != second:
        assert series_id(first) != series_id(second)


def test_event_contributes_to_every_combination_it_has_values_for() -> None:
    values = {"country": "DE", "channel": "app", "segment": "vip", "carrier": None}
    ids = [sid for sid, _ in series_ids_for(DEFAULT_SERIES, values)]
    assert ids == ["all", "country=DE", "country=DE,channel=app", "country=DE,segment=vip"]


def test_combination_with_an_empty_value_is_skipped() -> None:
    ids = [
        sid for sid, _ in series_ids_for([("country", "region")], {"country": "DE", "region": ""})
    ]
    assert ids == []


def test_cached_lookup_agrees_with_the_general_one() -> None:
    cached = series_for_values(DEFAULT_SERIES, "DE", "BY", "web", "new", "dpd")
    values = {"country": "DE", "region": "BY", "channel": "web", "segment": "new", "carrier": "dpd"}
    assert list(cached) == series_ids_for(DEFAULT_SERIES, values)
    assert len(cached) == len(DEFAULT_SERIES)
    assert dict(cached)["country=DE,carrier=dpd"] == {"country": "DE", "carrier": "dpd"}
