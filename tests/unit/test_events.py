"""The typed events accept the contract's fields and normalise them the way the engine expects.

Covers every field of the three kinds in EVENTS.md, ignoring unknown fields, the Kafka
key rule (order id, else customer id), normalisation of codes and labels, and the NPS
classification boundaries.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from cxstream.events import (
    LOGISTICS_TYPES,
    CustomerEvent,
    FeedbackEvent,
    LogisticsEvent,
    event_adapter,
    nps_class,
)


def parse(payload: dict[str, Any]) -> FeedbackEvent | LogisticsEvent | CustomerEvent:
    """Validate a payload exactly as it arrives on the wire (JSON bytes)."""
    return event_adapter.validate_json(json.dumps(payload).encode())


def feedback(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "feedback",
        "event_id": "fb-1",
        "ts": "2026-03-02T10:15:00Z",
        "customer_id": "c-1",
        "score": 8,
        "channel": "web",
        "country": "DE",
    }
    base.update(fields)
    return base


def logistics(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "logistics",
        "event_id": "lg-1",
        "ts": "2026-03-02T10:15:00Z",
        "order_id": "o-1",
        "customer_id": "c-1",
        "type": "shipped",
        "country": "DE",
    }
    base.update(fields)
    return base


def customer(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "customer",
        "event_id": "cu-1",
        "ts": "2026-03-02T10:15:00Z",
        "customer_id": "c-1",
    }
    base.update(fields)
    return base


def test_feedback_accepts_every_contract_field() -> None:
    event = parse(
        feedback(
            order_id="o-9",
            score=3,
            reasons=["delivery_late", "support_unreachable"],
            effort=6,
            channel="app",
            country="BR",
            region="SP",
            segment="vip",
            touchpoint="delivery",
            comment="Parcel arrived a week late.",
            language="pt",
        )
    )
    assert isinstance(event, FeedbackEvent)
    assert event.kind == "feedback"
    assert event.event_id == "fb-1"
    assert event.ts == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert event.customer_id == "c-1"
    assert event.order_id == "o-9"
    assert event.score == 3
    assert event.reasons == ("delivery_late", "support_unreachable")
    assert event.effort == 6
    assert (event.channel, event.country, event.region) == ("app", "BR", "SP")
    assert (event.segment, event.touchpoint, event.language) == ("vip", "delivery", "pt")
    assert event.comment == "Parcel arrived a week late."


def test_feedback_optional_fields_have_contract_defaults() -> None:
    event = parse(feedback())
    assert isinstance(event, FeedbackEvent)
    assert event.order_id is None
    assert event.reasons == ()
    assert event.effort is None
    assert event.region is None
    assert event.segment == "unknown"
    assert event.touchpoint is None
    assert event.comment is None
    assert event.language is None


def test_logistics_accepts_every_contract_field() -> None:
    event = parse(
        logistics(
            type="delivery_exception",
            country="nl",
            region="nh",
            carrier="PostNL",
            origin="Hub Venlo",
            promised_date="2026-03-04",
            eta="2026-03-05T18:00:00+01:00",
            channel="app",
            segment="regular",
            reason="weather",
        )
    )
    assert isinstance(event, LogisticsEvent)
    assert event.type == "delivery_exception"
    assert (event.order_id, event.customer_id) == ("o-1", "c-1")
    assert (event.country, event.region) == ("NL", "NH")
    assert event.carrier == "postnl"
    assert event.origin == "Hub Venlo"
    assert event.promised_date == date(2026, 3, 4)
    assert event.eta == datetime(2026, 3, 5, 17, 0, tzinfo=UTC)
    assert event.eta is not None
    assert event.eta.utcoffset() == timedelta(hours=1)
    assert (event.channel, event.segment, event.reason) == ("app", "regular", "weather")


@pytest.mark.parametrize("kind", LOGISTICS_TYPES)
def test_every_contract_logistics_type_is_accepted(kind: str) -> None:
    event = parse(logistics(type=kind))
    assert isinstance(event, LogisticsEvent)
    assert event.type == kind


def test_logistics_types_are_the_contract_list() -> None:
    assert set(LOGISTICS_TYPES) == {
        "order_placed",
        "shipped",
        "in_transit",
        "delivery_exception",
        "out_for_delivery",
        "delivered",
        "return_registered",
        "return_received",
        "refund_issued",
    }


def test_customer_accepts_every_contract_field() -> None:
    event = parse(
        customer(
            email="ana@example.com",
            name="Ana Souza",
            language="PT-br",
            segment="VIP",
            country="br",
            contact_opt_out=True,
        )
    )
    assert isinstance(event, CustomerEvent)
    assert event.email == "ana@example.com"
    assert event.name == "Ana Souza"
    assert event.language == "pt-br"
    assert event.segment == "vip"
    assert event.country == "BR"
    assert event.contact_opt_out is True


@pytest.mark.parametrize("make", [feedback, logistics, customer])
def test_unknown_fields_are_ignored(make: Any) -> None:
    plain = parse(make())
    extended = parse(
        make(
            schema_version=3,
            producer={"name": "shop", "build": [1, 2, 3]},
            tags=["a", None, 1.5],
            Score="not the score field",
        )
    )
    assert extended == plain
    assert "schema_version" not in extended.model_dump()
    assert not hasattr(extended, "producer")


def test_timestamp_keeps_its_offset_and_instant() -> None:
    event = parse(feedback(ts="2026-03-02T12:15:00+02:00"))
    assert event.ts == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert event.ts.utcoffset() == timedelta(hours=2)
    assert event.ts.tzinfo is not None


@pytest.mark.parametrize(
    ("given", "offset"),
    [
        ("2026-03-02T10:15:00Z", timedelta(0)),
        ("2026-03-02T10:15:00+00:00", timedelta(0)),
        ("2026-03-02T15:45:00.250000+05:30", timedelta(hours=5, minutes=30)),
        ("2026-03-02T05:15:00-05:00", timedelta(hours=-5)),
    ],
)
def test_times_carry_their_offset_as_a_standard_timezone(given: str, offset: timedelta) -> None:
    event = parse(logistics(ts=given, eta=given))
    assert isinstance(event, LogisticsEvent)
    for at in (event.ts, event.eta):
        assert at is not None
        assert type(at.tzinfo) is timezone
        assert at.utcoffset() == offset
        assert at == datetime.fromisoformat(given)
        assert at.isoformat() == datetime.fromisoformat(given).isoformat()


def test_key_is_order_id_for_logistics() -> None:
    assert parse(logistics(order_id="o-42", customer_id="c-7")).key == "o-42"


def test_key_is_order_id_for_feedback_about_an_order() -> None:
    assert parse(feedback(order_id="o-42", customer_id="c-7")).key == "o-42"


def test_key_is_customer_id_for_feedback_without_order() -> None:
    assert parse(feedback(customer_id="c-7")).key == "c-7"
    assert parse(feedback(customer_id="c-7", order_id=None)).key == "c-7"


def test_key_is_customer_id_for_customer_events() -> None:
    assert parse(customer(customer_id="c-7")).key == "c-7"


@pytest.mark.parametrize(
    ("make", "given", "expected"),
    [
        (feedback, "de", "DE"),
        (feedback, "De", "DE"),
        (logistics, "br", "BR"),
        (customer, "nl", "NL"),
    ],
)
def test_country_is_uppercased(make: Any, given: str, expected: str) -> None:
    assert parse(make(country=given)).country == expected


def test_labels_are_lowercased_and_trimmed() -> None:
    event = parse(feedback(channel=" App ", segment="VIP", touchpoint="App_Scan"))
    assert isinstance(event, FeedbackEvent)
    assert (event.channel, event.segment, event.touchpoint) == ("app", "vip", "app_scan")


@pytest.mark.parametrize("country", ["DEU", "D", "12", "", "D-"])
def test_country_must_be_two_letters(country: str) -> None:
    with pytest.raises(ValidationError, match="country"):
        parse(feedback(country=country))


def test_blank_required_channel_is_rejected() -> None:
    with pytest.raises(ValidationError, match="channel"):
        parse(feedback(channel="   "))


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (feedback, "segment"),
        (feedback, "touchpoint"),
        (feedback, "region"),
        (logistics, "carrier"),
        (logistics, "reason"),
        (customer, "segment"),
    ],
)
def test_blank_optional_label_is_rejected(make: Any, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        parse(make(**{field: " \t "}))


def test_label_length_is_checked_after_trimming() -> None:
    event = parse(feedback(channel=f"  {'A' * 64}  ", region=" by "))
    assert isinstance(event, FeedbackEvent)
    assert (event.channel, event.region) == ("a" * 64, "BY")
    with pytest.raises(ValidationError, match="channel"):
        parse(feedback(channel="a" * 65))


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0, "detractor"),
        (6, "detractor"),
        (7, "passive"),
        (8, "passive"),
        (9, "promoter"),
        (10, "promoter"),
    ],
)
def test_nps_class_boundaries(score: int, expected: str) -> None:
    assert nps_class(score) == expected
    event = parse(feedback(score=score))
    assert isinstance(event, FeedbackEvent)
    assert event.nps_class == expected


def test_every_score_has_exactly_the_contract_class() -> None:
    classes = [nps_class(s) for s in range(11)]
    assert classes == ["detractor"] * 7 + ["passive"] * 2 + ["promoter"] * 2


def test_events_are_immutable() -> None:
    event = parse(feedback())
    with pytest.raises(ValidationError):
        event.score = 10  # type: ignore[misc]
