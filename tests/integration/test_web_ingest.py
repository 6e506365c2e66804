"""HTTP ingestion against the real test broker, through a real uvicorn server.

Events POSTed over HTTP land on their topics with the contract's keys, rejected ones on
the dead-letter topic with the reason; refused requests write nothing. The last test
runs a real ``cxstream worker`` and checks its HTTP surface (health, readiness,
metrics, ingestion all the way into the worker's counters).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from cxstream.config import Settings, TopicNames
from cxstream.producing import kafka_client_options
from cxstream.web.app import create_web_app
from cxstream.web.server import WebServer
from cxstream.web.settings import WebSettings
from cxstream.web.sinks import AIOKafkaEventSink, SinkUnavailable
from cxstream.worker_process import WorkerProcess, free_port
from tests.conftest import TopicFactory
from tests.integration.topics import read_records
from tests.integration.worker_settings import worker_test_settings
from tests.unit.web.helpers import bearer, feedback, logistics

pytestmark = [pytest.mark.integration]

TOKEN = "integration-token-0123456789"


def _settings(kafka: str, topic_factory: TopicFactory, **web: Any) -> Settings:
    topics = TopicNames(
        feedback=topic_factory("web-feedback", 2),
        logistics=topic_factory("web-logistics"),
        customers=topic_factory("web-customers"),
        deadletter=topic_factory("web-deadletter"),
    )
    web.setdefault("tokens", [{"name": "survey", "token": TOKEN}])
    return Settings(broker=kafka, topics=topics, web=WebSettings(**web))


async def _total(kafka: str, *topics: str) -> int:
    """Records ever written to ``topics`` (their partitions' end offsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=None)
    await consumer.start()
    try:
        await consumer.topics()  # fetches the metadata partitions_for_topic reads
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        ends = await consumer.end_offsets(partitions)
        return sum(ends.values())
    finally:
        await consumer.stop()


async def _metrics_once(client: httpx.AsyncClient, line: str, timeout_s: float = 30.0) -> str:
    """The worker's /metrics text as soon as it contains ``line``."""
    deadline = time.monotonic() + timeout_s
    while True:
        metrics = (await client.get("/metrics")).text
        if line in metrics or time.monotonic() > deadline:
            return metrics
        await asyncio.sleep(0.2)


@asynccontextmanager
async def _serve(settings: Settings) -> AsyncIterator[str]:
    """The app with a Kafka sink, served on a free loopback port; yields its base URL."""
    sink = AIOKafkaEventSink(kafka_client_options(settings), request_timeout_s=5.0)
    server = WebServer(create_web_app(settings, sink=sink), "127.0.0.1", 0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()
        await sink.stop()


async def test_a_mixed_batch_lands_on_the_topics_and_the_dead_letter_topic(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    settings = _settings(kafka_bootstrap, topic_factory)
    topics = settings.topics
    good = [feedback("f-1", order_id="o-1"), feedback("f-2", order_id=None, customer_id="c-2")]
    bad_score = feedback("f-3", score=12)
    body = json.dumps([good[0], bad_score, logistics("l-1"), good[1]]).encode()
    async with _serve(settings) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/ingest/feedback", content=body, headers=bearer(TOKEN))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 2)

    accepted = await read_records(kafka_bootstrap, topics.feedback, lambda r: len(r) >= 2)
    assert sorted(key or b"" for key, _ in accepted) == [b"c-2", b"o-1"]
    assert sorted(json.loads(value)["event_id"] for _, value in accepted) == ["f-1", "f-2"]
    letters = [
        json.loads(value)
        for _, value in await read_records(
            kafka_bootstrap, topics.deadletter, lambda r: len(r) >= 2
        )
    ]
    assert sorted(letter["index"] for letter in letters) == [1, 2]
    by_index = {letter["index"]: letter for letter in letters}
    assert "field 'score'" in by_index[1]["error"]
    assert json.loads(by_index[1]["raw"])["event_id"] == "f-3"
    assert "wrong endpoint" in by_index[2]["error"]
    assert all(letter["client"] == "survey" for letter in letters)
    assert all(letter["endpoint"] == "/ingest/feedback" for letter in letters)
    assert await _total(kafka_bootstrap, topics.logistics) == 0


async def test_refused_requests_leave_every_topic_empty(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    settings = _settings(kafka_bootstrap, topic_factory, max_body_bytes=4096)
    one = json.dumps(feedback()).encode()
    async with _serve(settings) as url, httpx.AsyncClient(base_url=url) as client:
        answers = [
            await client.post("/ingest/feedback", content=one),
            await client.post(
                "/ingest/feedback", content=one, headers=bearer("not-the-token-0123456789")
            ),
            await client.post(
                "/ingest/feedback", content=b"[" + b" " * 8192 + one + b"]", headers=bearer(TOKEN)
            ),
            await client.post("/ingest/feedback", content=b"[{", headers=bearer(TOKEN)),
        ]
    assert [a.status_code for a in answers] == [401, 401, 413, 400]
    topics = settings.topics
    assert await _total(kafka_bootstrap, topics.feedback, topics.deadletter) == 0


async def test_an_unreachable_broker_fails_the_request_with_503(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    settings = _settings(kafka_bootstrap, topic_factory).model_copy(
        update={"broker": f"127.0.0.1:{free_port()}"}
    )
    async with _serve(settings) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/ingest/feedback", json=feedback(), headers=bearer(TOKEN))
    assert response.status_code == 503
    assert "retry" in response.json()["detail"]


async def test_idempotence_is_used_when_the_broker_supports_it(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("web-idempotence")
    options = {"bootstrap_servers": kafka_bootstrap}
    auto = AIOKafkaEventSink(options, request_timeout_s=5.0)
    try:
        await auto.send(topic, b"k", b"{}")  # whatever the broker supports, it is delivered
    finally:
        await auto.stop()
    assert auto.idempotent is not None
    required = AIOKafkaEventSink(options, idempotence="on", request_timeout_s=5.0)
    try:
        if auto.idempotent:
            await required.send(topic, b"k", b"{}")
        else:  # e.g. the embedded Tansu broker: "on" refuses to go without it
            with pytest.raises(SinkUnavailable):
                await required.send(topic, b"k", b"{}")
    finally:
        await required.stop()
    assert await _total(kafka_bootstrap, topic) == (2 if auto.idempotent else 1)


@pytest.mark.slow
async def test_the_worker_serves_health_readiness_metrics_and_ingestion(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = worker_test_settings(kafka_bootstrap, redis_url)
    tokens = json.dumps([{"name": "survey", "token": TOKEN}])
    worker = WorkerProcess(settings, tmp_path, extra_env={"CXSTREAM_WEB__TOKENS": tokens})
    worker.start()
    try:
        worker.wait_until(lambda s: s.get("ready", False), 90, "worker ready")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{worker.port}") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert set(ready.json()["checks"]) == {"broker", "redis", "rules"}
            events = [logistics(f"l-{n}", order_id=f"o-{n}") for n in range(3)]
            posted = await client.post("/ingest/logistics", json=events, headers=bearer(TOKEN))
            assert posted.status_code == 200, posted.text
            assert posted.json()["accepted"] == 3
            # "accepted" counts events whose batch went through the engine; the batch's
            # timing is observed just after, so poll the metrics for it too.
            worker.wait_until(lambda s: s.get("accepted", 0) >= 3, 60, "processed events")
            metrics = await _metrics_once(
                client, 'cxstream_stage_seconds_count{stage="ingest_batch"}'
            )
        logistics_topic = settings.topics.logistics
        assert f'cxstream_events_in_total{{topic="{logistics_topic}"}} 3.0' in metrics
        assert f'cxstream_events_out_total{{topic="{logistics_topic}"}} 3.0' in metrics
        assert 'cxstream_stage_seconds_count{stage="ingest_batch"}' in metrics
        assert "cxstream_consumer_lag{" in metrics
        assert "cxstream_http_ingest_requests_total{" in metrics
    finally:
        worker.stop()
    assert worker.returncode == 0, worker.log_tail()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", worker.port)
