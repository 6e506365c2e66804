"""POST /ingest/*: authentication, limits, per-event outcomes, topics, keys and dead letters.

Every refusal (no credentials configured, bad credentials, too large, malformed, rate
limited) must leave the sink untouched.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cxstream.clock import ManualClock
from cxstream.web.app import create_web_app
from cxstream.web.auth import SIGNATURE_HEADER, sign
from cxstream.web.ingest import split_events
from cxstream.web.sinks import SinkUnavailable
from tests.unit.web.helpers import (
    HMAC_SECRET,
    OTHER_TOKEN,
    TOKEN,
    RecordingSink,
    bearer,
    client_for,
    customer,
    dumps,
    feedback,
    logistics,
    make_settings,
)

TOPICS = make_settings().topics


def signed(body: bytes, secret: str = HMAC_SECRET) -> dict[str, str]:
    return {SIGNATURE_HEADER: "sha256=" + sign(body, secret), "Content-Type": "application/json"}


# -- authentication --------------------------------------------------------------------


async def test_without_configured_credentials_ingestion_is_disabled() -> None:
    sink = RecordingSink()
    app = create_web_app(make_settings(tokens=[]), sink=sink)
    async with client_for(app) as client:
        response = await client.post("/ingest/feedback", json=feedback(), headers=bearer())
    assert response.status_code == 404
    assert "disabled" in response.json()["detail"]
    assert sink.records == []


async def test_missing_credentials_are_refused() -> None:
    sink = RecordingSink()
    async with client_for(create_web_app(make_settings(), sink=sink)) as client:
        response = await client.post("/ingest/feedback", json=feedback())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert sink.records == []


@pytest.mark.parametrize(
    "authorization", ["Bearer wrong-token-0123456789", "Basic c3VydmV5OnB3", "Bearer ", TOKEN]
)
async def test_a_wrong_bearer_token_is_refused(authorization: str) -> None:
    sink = RecordingSink()
    async with client_for(create_web_app(make_settings(), sink=sink)) as client:
        response = await client.post(
            "/ingest/feedback", json=feedback(), headers={"Authorization": authorization}
        )
    assert response.status_code == 401
    assert TOKEN not in response.text
    assert sink.records == []


async def test_a_valid_bearer_token_is_accepted() -> None:
    sink = RecordingSink()
    async with client_for(create_web_app(make_settings(), sink=sink)) as client:
        response = await client.post(
            "/ingest/feedback", json=feedback(), headers=bearer(OTHER_TOKEN)
        )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert len(sink.on(TOPICS.feedback)) == 1


async def test_a_valid_hmac_signature_is_accepted() -> None:
    sink = RecordingSink()
    settings = make_settings(tokens=[], hmac={"name": "shop", "secret": HMAC_SECRET})
    body = dumps([feedback("f-1"), feedback("f-2")])
    async with client_for(create_web_app(settings, sink=sink)) as client:
        response = await client.post("/ingest/feedback", content=body, headers=signed(body))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + sign(b"another body", HMAC_SECRET),
        "sha256=" + sign(dumps(feedback()), "another-secret-0123456789"),
        sign(dumps(feedback()), HMAC_SECRET),  # without the sha256= prefix
        "sha256=zz",
    ],
)
async def test_an_invalid_hmac_signature_is_refused(signature: str) -> None:
    sink = RecordingSink()
    settings = make_settings(tokens=[], hmac={"secret": HMAC_SECRET})
    async with client_for(create_web_app(settings, sink=sink)) as client:
        response = await client.post(
            "/ingest/feedback", content=dumps(feedback()), headers={SIGNATURE_HEADER: signature}
        )
    assert response.status_code == 401
    assert sink.records == []


async def test_a_signature_without_a_configured_secret_is_refused() -> None:
    sink = RecordingSink()
    body = dumps(feedback())
    async with client_for(create_web_app(make_settings(), sink=sink)) as client:
        response = await client.post("/ingest/feedback", content=body, headers=signed(body))
    assert response.status_code == 401
    assert sink.records == []


async def test_a_valid_token_with_an_invalid_signature_is_refused() -> None:
    sink = RecordingSink()
    settings = make_settings(hmac={"secret": HMAC_SECRET})
    body = dumps(feedback())
    headers = {**bearer(), **signed(b"something else")}
    async with client_for(create_web_app(settings, sink=sink)) as client:
        response = await client.post("/ingest/feedback", content=body, headers=headers)
    assert response.status_code == 401
    assert sink.records == []


# -- body limits and malformed bodies --------------------------------------------------


async def test_an_oversized_body_is_refused_before_it_is_read_whole() -> None:
    sink = RecordingSink()
    settings = make_settings(max_body_bytes=64 * 1024)
    chunk = b" " * (16 * 1024)
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield b"["
        for n in range(64):  # 1 MiB in all, streamed without a Content-Length
            sent.append(n)
            yield chunk

    async with client_for(create_web_app(settings, sink=sink)) as client:
        response = await client.post("/ingest/feedback", content=body(), headers=bearer())
    assert response.status_code == 413
    assert "limit of 65536 bytes" in response.json()["detail"]
    assert len(sent) <= 5  # stopped at the limit
    assert sink.records == []


async def test_a_declared_content_length_over_the_limit_is_refused_at_once() -> None:
    sink = RecordingSink()
    settings = make_settings(max_body_bytes=1024)
    body = dumps([feedback(f"f-{n}") for n in range(20)])
    async with client_for(create_web_app(settings, sink=sink)) as client:
        response = await client.post("/ingest/feedback", content=body, headers=bearer())
    assert response.status_code == 413
    assert sink.records == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"kind": "feedback", ', "malformed JSON"),
        (b"[1, 2", "malformed JSON"),
        (b"", "malformed JSON"),
        (b"42", "JSON object or an array"),
        (b'"text"', "JSON object or an array"),
        (b"[]", "empty array"),
        (b'{"kind": "feedback"} {"kind": "feedback"}', "malformed JSON"),
        (b'{"comment": "\xff"}', "not valid UTF-8"),
        (b"[" * 100_000, "malformed JSON"),
    ],
)
async def test_a_malformed_body_is_refused(body: bytes, message: str) -> None:
    sink = RecordingSink()
    async with client_for(create_web_app(make_settings(), sink=sink)) as client:
        response = await client.post("/ingest/feedback", content=body, headers=bearer())
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert sink.records == []


def test_split_events_keeps_each_event_as_sent() -> None:
    text = '\n[ {"a": "x, y]"} ,\n{"b" : [1, {"c": 2}]}\t]\n'
    assert split_events(text) == ['{"a": "x, y]"}', '{"b" : [1, {"c": 2}]}']
    assert split_events('[ "x", 1 ]') == ['"x"', "1"]


# -- rate limits ------------------------------------------------------------------------


async def test_the_rate_limit_answers_429_with_retry_after_and_refills_with_time() -> None:
    sink = RecordingSink()
    clock = ManualClock()
    settings = make_settings(rate_per_s=2, burst=4)
    app = create_web_app(settings, sink=sink, clock=clock)
    batch = dumps([feedback(f"f-{n}") for n in range(3)])
    async with client_for(app) as client:
        first = await client.post("/ingest/feedback", content=batch, headers=bearer())
        second = await client.post("/ingest/feedback", content=batch, headers=bearer())
        # Another token has a bucket of its own.
        other = await client.post("/ingest/feedback", content=batch, headers=bearer(OTHER_TOKEN))
        clock.advance(1.0)  # 1 + 2 tokens: enough for 3 events
        third = await client.post("/ingest/feedback", content=batch, headers=bearer())
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "1"
    assert "survey" in second.json()["detail"]
    assert other.status_code == 200
    assert third.status_code == 200
    assert len(sink.records) == 9  # nothing of the refused request


async def test_a_batch_larger_than_the_burst_is_refused_as_too_large() -> None:
    sink = RecordingSink()
    settings = make_settings(burst=2)
    body = dumps([feedback(f"f-{n}") for n in range(3)])
    async with client_for(create_web_app(settings, sink=sink, clock=ManualClock())) as client:
        response = await client.post("/ingest/feedback", content=body, headers=bearer())
    assert response.status_code == 413
    assert "web.burst" in response.json()["detail"]
    assert sink.records == []


# -- per-event outcomes -----------------------------------------------------------------


async def test_a_mixed_batch_gets_a_result_per_event() -> None:
    sink = RecordingSink()
    events: list[Any] = [
        feedback("f-1"),
        feedback("f-2", score=11),
        logistics("l-1"),
        feedback("f-3", order_id=None, customer_id="c-9"),
        "not an object",
        {"kind": "survey", "event_id": "x-1"},
    ]
    body = dumps(events)
    async with client_for(create_web_app(make_settings(), sink=sink)) as client:
        response = await client.post("/ingest/feedback", content=body, headers=bearer())
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 4)
    results = answer["results"]
    assert [r["index"] for r in results] == list(range(6))
    assert [r["status"] for r in results] == [
        "accepted",
        "rejected",
        "rejected",
        "accepted",
        "rejected",
        "rejected",
    ]
    assert results[0]["event_id"] == "f-1"
    assert results[3]["event_id"] == "f-3"
    assert "field 'score'" in results[1]["reason"]
    assert "payload must be a JSON object" in results[4]["reason"]
    assert "unknown kind 'survey'" in results[5]["reason"]


async def test_an_event_of_the_wrong_kind_is_rejected_with_the_right_endpoint() -> None:
    sink = RecordingSink()
    async with client_for(create_web_app(make_settings(), sink=sink)) as client:
        response = await client.post("/ingest/feedback", json=logistics(), headers=bearer())
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["status"] == "rejected"
    assert "kind 'logistics'" in result["reason"]
    assert "/ingest/logistics" in result["reason"]
    assert sink.on(TOPICS.logistics) == []
    assert len(sink.on(TOPICS.deadletter)) == 1


async def test_accepted_events_go_to_their_topic_with_the_contract_key_as_sent() -> None:
    sink = RecordingSink()
    with_order = dumps(feedback("f-1", order_id="o-7"))
    without_order = b'{"kind":"feedback","event_id":"f-2","ts":"2026-03-02T10:15:00+01:00",' + (
        b'"customer_id":"c-8","score":10,"channel":"web","country":"de","extra":"kept"}'
    )
    body = b"[" + with_order + b",\n " + without_order + b"]"
    async with client_for(create_web_app(make_settings(), sink=sink)) as client:
        fb = await client.post("/ingest/feedback", content=body, headers=bearer())
        lg = await client.post("/ingest/logistics", json=logistics(), headers=bearer())
        cu = await client.post("/ingest/customers", json=customer(), headers=bearer())
    assert [r.status_code for r in (fb, lg, cu)] == [200, 200, 200]
    assert sink.on(TOPICS.feedback) == [(b"o-7", with_order), (b"c-8", without_order)]
    assert [key for key, _ in sink.on(TOPICS.logistics)] == [b"o-2"]
    assert [key for key, _ in sink.on(TOPICS.customers)] == [b"c-3"]
    assert sink.on(TOPICS.deadletter) == []


async def test_rejected_events_go_to_the_dead_letter_topic_with_reason_and_origin() -> None:
    sink = RecordingSink()
    bad = b'{"kind": "feedback", "event_id": "f-9", "score": 3}'
    body = b"[" + dumps(feedback("f-1")) + b", " + bad + b"]"
    async with client_for(create_web_app(make_settings(), sink=sink)) as client:
        response = await client.post("/ingest/feedback", content=body, headers=bearer())
    answer = response.json()
    ((key, value),) = sink.on(TOPICS.deadletter)
    letter = json.loads(value)
    assert key is None
    assert letter["raw"] == bad.decode()
    assert letter["error"] == answer["results"][1]["reason"]
    assert "is required but missing" in letter["error"]
    assert letter["endpoint"] == "/ingest/feedback"
    assert letter["client"] == "survey"
    assert letter["index"] == 1
    assert letter["request_id"] == answer["request_id"]
    assert TOKEN not in value.decode()


async def test_when_the_broker_is_unavailable_the_request_fails_with_503_and_can_be_retried() -> (
    None
):
    sink = RecordingSink()
    sink.fail = SinkUnavailable("broker unavailable: KafkaConnectionError")
    settings = make_settings(rate_per_s=1, burst=2)
    body = dumps([feedback("f-1"), feedback("f-2")])
    app = create_web_app(settings, sink=sink, clock=ManualClock())
    async with client_for(app) as client:
        failed = await client.post("/ingest/feedback", content=body, headers=bearer())
        sink.fail = None
        retried = await client.post("/ingest/feedback", content=body, headers=bearer())
    assert failed.status_code == 503
    assert failed.headers["Retry-After"]
    assert "retry" in failed.json()["detail"]
    # The failed request's tokens were given back: the retry is not rate limited.
    assert retried.status_code == 200
    assert len(sink.on(TOPICS.feedback)) == 2


async def test_a_broker_that_does_not_answer_in_time_fails_the_request_with_503() -> None:
    class HangingSink(RecordingSink):
        async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
            import asyncio

            await asyncio.sleep(10)

    settings = make_settings(send_timeout_s=0.05)
    async with client_for(create_web_app(settings, sink=HangingSink())) as client:
        response = await client.post("/ingest/feedback", json=feedback(), headers=bearer())
    assert response.status_code == 503
    assert "did not acknowledge" in response.json()["detail"]


async def test_without_a_sink_ingestion_answers_503() -> None:
    async with client_for(create_web_app(make_settings())) as client:
        response = await client.post("/ingest/feedback", json=feedback(), headers=bearer())
    assert response.status_code == 503


async def test_an_event_over_the_payload_limit_is_dead_lettered_truncated_like_the_workers() -> (
    None
):
    sink = RecordingSink()
    settings = make_settings()
    huge = feedback("f-big", comment="x" * (settings.max_payload_bytes + 10))
    async with client_for(create_web_app(settings, sink=sink)) as client:
        response = await client.post("/ingest/feedback", json=[huge], headers=bearer())
    (result,) = response.json()["results"]
    assert result["status"] == "rejected"
    assert "exceeds the limit" in result["reason"]
    ((_, value),) = sink.on(TOPICS.deadletter)
    assert len(json.loads(value)["raw"]) == settings.max_payload_bytes
