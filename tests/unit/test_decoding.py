"""The decoder turns every payload into an accepted event or a readable dead letter.

Property-based: arbitrary bytes, arbitrary JSON, valid events with unknown extra fields
(accepted) and valid events broken in one way each (rejected with a reason that names
what is wrong) never raise. Dead letters keep the raw payload (base64 as well when it is
not UTF-8) and where it came from, and serialise to JSON. Example tests pin the wording
of each reason an operator reads.
"""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxstream.decoding import (
    MAX_PAYLOAD_BYTES,
    DeadLetter,
    Envelope,
    EventDecoder,
    FileOrigin,
    KafkaOrigin,
    Origin,
)
from cxstream.events import LOGISTICS_TYPES, YEARS, FeedbackEvent

DECODER = EventDecoder()
FILE = FileOrigin("events/2026-03-02.jsonl", 17)
KAFKA = KafkaOrigin("cx.feedback", 3, 123456)

fast = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies -------------------------------------------------------------------------------

origins = st.one_of(
    st.builds(FileOrigin, st.text(min_size=1, max_size=30), st.integers(1, 10**6)),
    st.builds(
        KafkaOrigin, st.text(min_size=1, max_size=30), st.integers(0, 64), st.integers(0, 2**40)
    ),
)
identifiers = st.text(min_size=1, max_size=40)
labels = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
countries = st.from_regex(r"[A-Za-z]{2}", fullmatch=True)
reason_codes = st.from_regex(r"[a-z0-9][a-z0-9_]{0,20}", fullmatch=True)
timestamps = st.builds(
    lambda day, hour, minute, offset: f"2026-03-{day:02d}T{hour:02d}:{minute:02d}:00{offset}",
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.sampled_from(["Z", "+00:00", "+01:00", "-03:00", "+05:30"]),
)


@st.composite
def feedback_payloads(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "kind": "feedback",
        "event_id": draw(identifiers),
        "ts": draw(timestamps),
        "customer_id": draw(identifiers),
        "score": draw(st.integers(0, 10)),
        "channel": draw(labels),
        "country": draw(countries),
    }
    optional = {
        "order_id": identifiers,
        "reasons": st.lists(reason_codes, max_size=5),
        "effort": st.integers(1, 7),
        "region": st.from_regex(r"[A-Z]{2,3}", fullmatch=True),
        "segment": labels,
        "touchpoint": labels,
        "comment": st.text(max_size=200),
        "language": st.sampled_from(["de", "en", "pt", "pt-BR", "nl"]),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            payload[name] = draw(strategy)
    return payload


@st.composite
def logistics_payloads(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "kind": "logistics",
        "event_id": draw(identifiers),
        "ts": draw(timestamps),
        "order_id": draw(identifiers),
        "customer_id": draw(identifiers),
        "type": draw(st.sampled_from(LOGISTICS_TYPES)),
        "country": draw(countries),
    }
    optional = {
        "region": st.from_regex(r"[A-Z]{2}", fullmatch=True),
        "carrier": st.sampled_from(["dhl", "dpd", "hermes", "ups", "postnl"]),
        "origin": st.text(max_size=30),
        "promised_date": st.dates(date(YEARS[0], 1, 1), date(YEARS[1], 12, 31)).map(
            lambda d: d.isoformat()
        ),
        "eta": timestamps,
        "channel": labels,
        "segment": labels,
        "reason": st.sampled_from(["weather", "capacity", "address", "customs", "strike"]),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            payload[name] = draw(strategy)
    return payload


@st.composite
def customer_payloads(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "kind": "customer",
        "event_id": draw(identifiers),
        "ts": draw(timestamps),
        "customer_id": draw(identifiers),
    }
    optional = {
        "email": st.emails().filter(lambda e: len(e) <= 320),
        "name": st.text(max_size=60),
        "language": st.sampled_from(["de", "en", "pt"]),
        "segment": labels,
        "country": countries,
        "contact_opt_out": st.booleans(),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            payload[name] = draw(strategy)
    return payload


valid_payloads = st.one_of(feedback_payloads(), logistics_payloads(), customer_payloads())

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

KNOWN_FIELDS = {
    "kind", "event_id", "ts", "customer_id", "order_id", "score", "reasons", "effort",
    "channel", "country", "region", "segment", "touchpoint", "comment", "language", "type",
    "carrier", "origin", "promised_date", "eta", "reason", "email", "name", "contact_opt_out",
}  # fmt: skip
extra_fields = st.dictionaries(
    st.text(min_size=1, max_size=20).filter(lambda k: k not in KNOWN_FIELDS),
    json_values,
    min_size=1,
    max_size=5,
)

# -- helpers ----------------------------------------------------------------------------------


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def check_dead_letter(result: Envelope | DeadLetter, raw: bytes, origin: Origin) -> DeadLetter:
    """A dead letter must explain itself, keep its payload and origin, and be JSON."""
    assert isinstance(result, DeadLetter)
    assert isinstance(result.error, str)
    assert result.error.strip()
    record = result.as_dict()
    restored = json.loads(json.dumps(record))
    assert restored == record
    assert json.loads(result.to_json()) == record
    assert record["error"] == result.error
    for name, value in origin.as_dict().items():
        assert record[name] == value
    kept = raw[: DECODER.max_payload_bytes]
    if "raw_base64" in record:
        assert base64.b64decode(record["raw_base64"]) == kept
    else:
        assert record["raw"].encode("utf-8") == kept
    return result


def decode(raw: bytes, origin: Origin = FILE) -> Envelope | DeadLetter:
    return DECODER.decode(raw, origin, "stream-a", 7)


# -- properties -------------------------------------------------------------------------------


@fast
@given(raw=st.binary(max_size=600), origin=origins)
def test_arbitrary_bytes_never_raise(raw: bytes, origin: Origin) -> None:
    result = DECODER.decode(raw, origin, "s", 1)
    if isinstance(result, Envelope):
        assert result.origin == origin
    else:
        check_dead_letter(result, raw, origin)


@fast
@given(value=json_values, origin=origins)
def test_arbitrary_json_never_raises(value: Any, origin: Origin) -> None:
    raw = encode(value)
    result = DECODER.decode(raw, origin, "s", 1)
    assert isinstance(result, DeadLetter)  # no random value is a complete event
    check_dead_letter(result, raw, origin)


@fast
@given(payload=valid_payloads, origin=origins, seq=st.integers(0, 2**40))
def test_valid_events_are_accepted_with_their_position(
    payload: dict[str, Any], origin: Origin, seq: int
) -> None:
    result = DECODER.decode(encode(payload), origin, "cx.feedback/3", seq)
    assert isinstance(result, Envelope), getattr(result, "error", None)
    assert result.event.kind == payload["kind"]
    assert result.event.event_id == payload["event_id"]
    assert (result.origin, result.stream, result.seq) == (origin, "cx.feedback/3", seq)


@fast
@given(payload=valid_payloads, extras=extra_fields)
def test_unknown_extra_fields_are_ignored_and_accepted(
    payload: dict[str, Any], extras: dict[str, Any]
) -> None:
    plain = decode(encode(payload))
    extended = decode(encode({**extras, **payload}))
    assert isinstance(plain, Envelope)
    assert isinstance(extended, Envelope), getattr(extended, "error", None)
    assert extended.event == plain.event


REQUIRED = {
    "feedback": ["kind", "event_id", "ts", "customer_id", "score", "channel", "country"],
    "logistics": ["kind", "event_id", "ts", "order_id", "customer_id", "type", "country"],
    "customer": ["kind", "event_id", "ts", "customer_id"],
}


def drop_required(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[Any, str]:
    field = draw(st.sampled_from(REQUIRED[payload["kind"]]))
    broken = {k: v for k, v in payload.items() if k != field}
    return broken, "'kind'" if field == "kind" else f"'{field}' is required but missing"


def wrong_type(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[Any, str]:
    field = draw(st.sampled_from(["event_id", "ts", "customer_id"]))
    value = draw(
        st.one_of(st.integers(), st.booleans(), st.lists(st.integers(), max_size=2), st.none())
    )
    return {**payload, field: value}, f"field '{field}'"


def bad_score(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[Any, str]:
    value = draw(
        st.one_of(
            st.integers(max_value=-1),
            st.integers(min_value=11),
            st.integers(0, 10).map(str),
            st.floats(0.1, 9.9).filter(lambda f: not f.is_integer()),
            st.integers(0, 10).map(float),
            st.booleans(),
            st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        )
    )
    return {**draw(feedback_payloads()), "score": value}, "field 'score'"


def bad_effort(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[Any, str]:
    value = draw(st.one_of(st.integers(max_value=0), st.integers(min_value=8), st.just("3")))
    return {**draw(feedback_payloads()), "effort": value}, "field 'effort'"


def unknown_kind(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[Any, str]:
    kind = draw(st.text(max_size=12).filter(lambda k: k not in REQUIRED))
    return {**payload, "kind": kind}, "unknown kind"


def unknown_type(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[Any, str]:
    value = draw(st.text(max_size=12).filter(lambda t: t not in LOGISTICS_TYPES))
    return {**draw(logistics_payloads()), "type": value}, "field 'type'"


def naive_timestamp(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[Any, str]:
    ts = draw(timestamps)
    naive = ts.removesuffix("Z")[:19]
    return {**payload, "ts": naive}, "field 'ts'"


def nested_junk(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[Any, str]:
    field = draw(st.sampled_from(["customer_id", "ts", "country"]))
    junk = draw(st.dictionaries(st.text(max_size=5), json_values, min_size=1, max_size=3))
    return {**payload, field: junk}, f"field '{field}'"


def not_utf8(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[Any, str]:
    raw = encode(payload)
    cut = draw(st.integers(0, len(raw)))
    bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]))
    return raw[:cut] + bad + raw[cut:], "not valid UTF-8"


def too_large(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[Any, str]:
    size = draw(st.integers(MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES + 4096))
    return {**payload, "padding": "x" * size}, "exceeds the limit"


MUTATIONS = [
    drop_required,
    wrong_type,
    bad_score,
    bad_effort,
    unknown_kind,
    unknown_type,
    naive_timestamp,
    nested_junk,
    not_utf8,
    too_large,
]


@fast
@given(
    payload=valid_payloads,
    mutation=st.sampled_from(MUTATIONS),
    origin=origins,
    data=st.data(),
)
def test_broken_events_become_dead_letters_naming_the_problem(
    payload: dict[str, Any], mutation: Any, origin: Origin, data: st.DataObject
) -> None:
    broken, expected = mutation(data.draw, payload)
    raw = broken if isinstance(broken, bytes) else encode(broken)
    result = DECODER.decode(raw, origin, "s", 1)
    letter = check_dead_letter(result, raw, origin)
    assert expected in letter.error


# -- examples: what an operator reads ----------------------------------------------------------

GOOD = {
    "kind": "feedback",
    "event_id": "fb-1",
    "ts": "2026-03-02T10:15:00Z",
    "customer_id": "c-1",
    "order_id": "o-1",
    "score": 7,
    "channel": "app",
    "country": "DE",
}


LOGISTICS_GOOD = {
    "kind": "logistics",
    "event_id": "lg-1",
    "ts": "2026-03-02T10:15:00Z",
    "order_id": "o-1",
    "customer_id": "c-1",
    "type": "order_placed",
    "country": "DE",
}


def letter_for(raw: bytes, origin: Origin = FILE) -> DeadLetter:
    result = decode(raw, origin)
    assert isinstance(result, DeadLetter)
    return result


def error_for(raw: bytes) -> str:
    return letter_for(raw).error


def test_good_example_is_accepted() -> None:
    result = decode(encode(GOOD))
    assert isinstance(result, Envelope)
    assert isinstance(result.event, FeedbackEvent)
    assert result.event.score == 7


DROP = object()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"score": DROP}, "field 'score' is required but missing"),
        ({"channel": DROP}, "field 'channel' is required but missing"),
        ({"score": "7"}, "field 'score': Input should be a valid integer (got '7')"),
        ({"score": 7.5}, "field 'score': Input should be a valid integer (got 7.5)"),
        ({"score": True}, "field 'score': Input should be a valid integer (got True)"),
        ({"score": 11}, "field 'score': Input should be less than or equal to 10 (got 11)"),
        ({"score": -1}, "field 'score': Input should be greater than or equal to 0 (got -1)"),
        ({"effort": 0}, "field 'effort': Input should be greater than or equal to 1 (got 0)"),
        ({"effort": 8}, "field 'effort': Input should be less than or equal to 7 (got 8)"),
        ({"ts": "2026-03-02T10:15:00"}, "field 'ts': Input should have timezone info"),
        ({"ts": "yesterday"}, "field 'ts'"),
        ({"ts": "1970-01-01T00:00:00Z"}, "field 'ts': Value error, year 1970 is outside"),
        ({"ts": "9999-12-31T23:59:59+01:00"}, "field 'ts': Value error, year 9999 is outside"),
        ({"country": "Germany"}, "field 'country'"),
        ({"reasons": ["Delivery Late"]}, "field 'reasons.0'"),
        ({"reasons": "delivery_late"}, "field 'reasons'"),
        ({"customer_id": {"id": 1}}, "field 'customer_id': Input should be a valid string"),
        ({"kind": "survey"}, "unknown kind 'survey': expected feedback, logistics or customer"),
        ({"kind": None}, "unknown kind"),
        ({"kind": DROP}, "field 'kind' is missing: expected feedback, logistics or customer"),
    ],
)
def test_reason_names_the_field(change: dict[str, Any], expected: str) -> None:
    payload = dict(GOOD)
    for name, value in change.items():
        if value is DROP:
            del payload[name]
        else:
            payload[name] = value
    assert expected in error_for(encode(payload))


def test_a_promised_date_from_a_broken_clock_is_rejected() -> None:
    payload = {**LOGISTICS_GOOD, "promised_date": "9999-12-31"}
    assert "field 'promised_date': Value error, year 9999" in error_for(encode(payload))


def test_unknown_logistics_type_lists_the_accepted_types() -> None:
    payload = {**LOGISTICS_GOOD, "type": "teleported"}
    error = error_for(encode(payload))
    assert error.startswith("field 'type':")
    assert "'delivered'" in error
    assert "(got 'teleported')" in error


def test_customer_opt_out_must_be_a_boolean() -> None:
    payload = {
        "kind": "customer",
        "event_id": "cu-1",
        "ts": "2026-03-02T10:15:00Z",
        "customer_id": "c-1",
        "contact_opt_out": "yes",
    }
    assert "field 'contact_opt_out'" in error_for(encode(payload))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"[]", "payload must be a JSON object, got array"),
        (b"null", "payload must be a JSON object, got null"),
        (b'"feedback"', "payload must be a JSON object, got string"),
        (b"{}", "field 'kind' is missing"),
        (b"", "invalid JSON"),
        (b'{"kind": "feedback"', "invalid JSON"),
        (b'{"kind": "feedback"} {}', "invalid JSON"),
        (b"[" * 5000, "invalid JSON"),
        (b"\xff\xfe{}", "payload is not valid UTF-8 (invalid start byte at byte 0)"),
    ],
)
def test_reason_for_payloads_that_are_not_events(raw: bytes, expected: str) -> None:
    assert expected in error_for(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "invalid JSON: EOF while parsing a value at line 1 column 0"),
        (b'{"kind": "feedback",}', "invalid JSON: trailing comma at line 1 column 21"),
    ],
)
def test_invalid_json_reason_says_so_once(raw: bytes, expected: str) -> None:
    assert error_for(raw) == expected


def test_many_problems_are_summarised() -> None:
    error = error_for(b'{"kind": "feedback"}')
    assert "field 'event_id' is required but missing" in error
    assert "and 1 more problem(s)" in error
    assert error.count(";") == 5


def test_long_offending_values_are_shortened_in_the_reason() -> None:
    error = error_for(encode({**GOOD, "score": "9" * 500}))
    assert "field 'score'" in error
    assert "..." in error
    assert len(error) < 200


def test_oversized_payload_is_rejected_with_its_size_and_truncated() -> None:
    raw = encode({**GOOD, "comment": "x" * 5000})
    decoder = EventDecoder(max_payload_bytes=1024)
    result = decoder.decode(raw, KAFKA, "cx.feedback/3", 9)
    assert isinstance(result, DeadLetter)
    assert result.error == (
        f"payload of {len(raw)} bytes exceeds the limit of 1024 bytes (raw payload truncated)"
    )
    assert result.raw == raw[:1024]
    assert result.as_dict()["raw"] == raw[:1024].decode()


def test_payload_exactly_at_the_limit_is_accepted() -> None:
    raw = encode(GOOD)
    padded = raw[:-1] + b', "padding": "' + b"p" * MAX_PAYLOAD_BYTES
    padded = padded[: MAX_PAYLOAD_BYTES - 2] + b'"}'
    assert len(padded) == MAX_PAYLOAD_BYTES
    assert isinstance(decode(padded), Envelope)
    assert isinstance(decode(padded[:-2] + b'p"}'), DeadLetter)


def test_dead_letter_from_a_file_carries_file_line_and_raw() -> None:
    raw = b'{"kind": "feedback", "score": 11}'
    record = letter_for(raw, FileOrigin("in/day1.jsonl", 42)).as_dict()
    assert record["file"] == "in/day1.jsonl"
    assert record["line"] == 42
    assert record["raw"] == raw.decode()
    assert "raw_base64" not in record
    assert "field 'score'" in record["error"]


def test_dead_letter_from_kafka_carries_topic_partition_offset() -> None:
    raw = b"not json"
    record = letter_for(raw, KAFKA).as_dict()
    assert (record["topic"], record["partition"], record["offset"]) == ("cx.feedback", 3, 123456)
    assert record["raw"] == "not json"
    assert record["error"].startswith("invalid JSON")


def test_dead_letter_of_non_utf8_payload_keeps_exact_bytes_in_base64() -> None:
    raw = b'{"kind": "feedback", "comment": "caf\xe9"}'
    letter = letter_for(raw, KAFKA)
    record = letter.as_dict()
    assert base64.b64decode(record["raw_base64"]) == raw
    assert record["raw"].startswith('{"kind": "feedback"')
    json.loads(letter.to_json())


def test_non_ascii_text_is_kept_readable_in_the_dead_letter() -> None:
    raw = encode({**GOOD, "score": "neun", "comment": "Lieferung verspätet 📦"})
    letter = letter_for(raw)
    assert "verspätet 📦" in letter.to_json().decode("utf-8")
