"""Customer profiles: the newest event wins field by field, and the segment is known "as of".

Covers: latest-wins merging (an older event changes no contact detail), the segment
history that answers :meth:`CustomerProfile.segment_as_of` whatever order the CRM events
arrive in, its bound, and the JSON round trip (compact, and tolerant of JSON written
without the history).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cxstream.events import CustomerEvent
from cxstream.history import HISTORY_LIMIT
from cxstream.profiles import CustomerProfile

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def crm(hours: float, **fields: Any) -> CustomerEvent:
    data: dict[str, Any] = {
        "kind": "customer",
        "event_id": f"cu-{hours}",
        "ts": at(hours),
        "customer_id": "c-1",
        **fields,
    }
    return CustomerEvent.model_validate(data, strict=False)


def profile_with(*events: CustomerEvent) -> CustomerProfile:
    profile = CustomerProfile("c-1")
    for event in events:
        profile.apply(event)
    return profile


def test_newest_event_wins_field_by_field() -> None:
    profile = profile_with(
        crm(1, email="a@example.com", language="de", segment="new"),
        crm(2, email="b@example.com"),
    )
    assert (profile.email, profile.language, profile.segment) == ("b@example.com", "de", "new")
    assert profile.updated_at == at(2)


def test_older_event_changes_no_contact_detail() -> None:
    profile = CustomerProfile("c-1")
    assert profile.apply(crm(2, email="new@example.com", contact_opt_out=True)) is True
    assert profile.apply(crm(1, email="old@example.com", contact_opt_out=False)) is False
    assert (profile.email, profile.contact_opt_out, profile.updated_at) == (
        "new@example.com",
        True,
        at(2),
    )


def test_segment_as_of_a_time_is_the_segment_the_customer_had_then() -> None:
    profile = profile_with(crm(1, segment="new"), crm(5, segment="regular"), crm(9, segment="vip"))
    assert profile.segment == "vip"
    assert [profile.segment_as_of(at(h)) for h in (0, 1, 4, 5, 8, 9, 20)] == [
        None,
        "new",
        "new",
        "regular",
        "regular",
        "vip",
        "vip",
    ]


def test_segment_is_known_before_a_later_update_of_other_fields() -> None:
    profile = profile_with(crm(1, segment="vip"), crm(5, email="x@example.com"))
    assert profile.segment_as_of(at(3)) == "vip"
    assert profile.updated_at == at(5)


def test_older_event_adds_its_segment_to_the_history_only() -> None:
    profile = profile_with(crm(5, segment="vip", email="new@example.com"))
    assert profile.apply(crm(1, segment="regular", email="old@example.com")) is True
    assert (profile.segment, profile.email) == ("vip", "new@example.com")
    assert profile.segment_as_of(at(2)) == "regular"
    assert profile.segment_as_of(at(5)) == "vip"
    assert profile.apply(crm(0.5, segment="regular")) is True  # known from earlier on
    assert profile.apply(crm(3, segment="regular")) is False  # nothing new


def test_late_segment_newer_than_the_last_segment_becomes_the_segment() -> None:
    profile = profile_with(crm(1, segment="vip"), crm(5, email="x@example.com"))
    profile.apply(crm(3, segment="regular"))
    assert profile.segment == "regular"
    assert profile.email == "x@example.com"
    assert profile.segment_as_of(at(2)) == "vip"


def test_segment_history_is_bounded() -> None:
    segments = ["new", "regular", "vip", "regular", "vip", "churned"]
    profile = profile_with(*(crm(10 * i, segment=s) for i, s in enumerate(segments)))
    assert len(profile.segments) == HISTORY_LIMIT
    assert profile.segment == "churned"
    assert profile.segment_as_of(at(-1)) is None
    assert (profile.segment_as_of(at(35)), profile.segment_as_of(at(49))) == ("regular", "vip")


def test_json_round_trip_is_compact_without_segment_changes() -> None:
    profile = profile_with(crm(1, segment="vip", name="Ada Lovelace", language="en"))
    stored = json.loads(profile.to_json())
    assert "segments" not in stored
    assert CustomerProfile.from_json("c-1", profile.to_json()) == profile


def test_json_round_trip_keeps_the_segment_history() -> None:
    profile = profile_with(
        crm(1, segment="new"), crm(5, segment="regular"), crm(7, email="ü@example.com")
    )
    restored = CustomerProfile.from_json("c-1", profile.to_json())
    assert restored == profile
    assert restored.segment_as_of(at(6)) == "regular"
    assert restored.segment_as_of(at(2)) == "new"
    assert restored.to_json() == profile.to_json()


def test_json_without_the_history_still_loads() -> None:
    stored = {"segment": "vip", "email": "a@example.com", "updated_at": at(4).isoformat()}
    profile = CustomerProfile.from_json("c-1", json.dumps(stored))
    assert profile.segment_as_of(at(3)) is None
    assert profile.segment_as_of(at(4)) == "vip"
    assert json.loads(profile.to_json()) == stored
    profile.apply(crm(6, segment="regular"))
    assert (profile.segment_as_of(at(5)), profile.segment_as_of(at(6))) == ("vip", "regular")


def test_empty_profile_round_trips() -> None:
    profile = CustomerProfile("c-1")
    assert profile.segment_as_of(at(0)) is None
    assert CustomerProfile.from_json("c-1", profile.to_json()) == profile
