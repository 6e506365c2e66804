"""AIOKafkaEventSink: idempotence when the broker allows it, 503-able errors otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, UnknownError

from cxstream.web.sinks import AIOKafkaEventSink, SinkUnavailable


class FakeProducer:
    """Stands in for AIOKafkaProducer; ``script`` says how start() behaves."""

    made: list[FakeProducer]

    def __init__(self, script: dict[str, Any], **options: Any) -> None:
        self.options = options
        self.script = script
        self.started = self.stopped = False
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    async def start(self) -> None:
        error = self.script.get("idempotent" if self.options["enable_idempotence"] else "plain")
        if error is not None:
            raise error
        self.started = True

    async def send(self, topic: str, value: bytes, key: bytes | None) -> Any:
        failure = self.script.get("send")
        self.sent.append((topic, key, value))

        async def delivered() -> None:
            if failure is not None:
                raise failure

        return delivered()

    async def stop(self) -> None:
        self.stopped = True


def _sink(script: dict[str, Any], **options: Any) -> tuple[AIOKafkaEventSink, list[FakeProducer]]:
    made: list[FakeProducer] = []

    def factory(**kwargs: Any) -> FakeProducer:
        producer = FakeProducer(script, **kwargs)
        made.append(producer)
        return producer

    sink = AIOKafkaEventSink({"bootstrap_servers": "x:9092"}, producer_factory=factory, **options)  # type: ignore[arg-type]
    return sink, made


async def test_an_idempotent_producer_with_acks_all_when_the_broker_allows_it() -> None:
    sink, made = _sink({})
    await sink.send("cx.feedback", b"o-1", b"{}")
    assert sink.idempotent is True
    assert made[0].options["acks"] == "all"
    assert made[0].options["enable_idempotence"] is True
    assert made[0].sent == [("cx.feedback", b"o-1", b"{}")]
    await sink.stop()
    assert made[0].stopped


async def test_auto_falls_back_to_acks_all_without_idempotence() -> None:
    sink, made = _sink({"idempotent": UnknownError()})
    await sink.send("cx.feedback", None, b"{}")
    assert sink.idempotent is False
    assert [p.options["enable_idempotence"] for p in made] == [True, False]
    assert made[0].stopped
    assert made[1].started


async def test_idempotence_on_refuses_a_broker_without_it() -> None:
    sink, _ = _sink({"idempotent": UnknownError()}, idempotence="on")
    with pytest.raises(SinkUnavailable):
        await sink.send("cx.feedback", None, b"{}")


async def test_idempotence_off_never_asks() -> None:
    sink, made = _sink({"idempotent": UnknownError()}, idempotence="off")
    await sink.send("cx.feedback", None, b"{}")
    assert [p.options["enable_idempotence"] for p in made] == [False]


async def test_an_unreachable_broker_is_unavailable_and_tried_again_later() -> None:
    script: dict[str, Any] = {"idempotent": KafkaConnectionError()}
    sink, made = _sink(script)
    with pytest.raises(SinkUnavailable):
        await sink.send("cx.feedback", None, b"{}")
    assert len(made) == 1  # no fallback for a broker that is down
    del script["idempotent"]
    await sink.send("cx.feedback", None, b"{}")
    assert sink.idempotent is True


async def test_a_failed_delivery_is_unavailable() -> None:
    sink, _ = _sink({"send": KafkaTimeoutError()})
    with pytest.raises(SinkUnavailable):
        await sink.send("cx.feedback", None, b"{}")


async def test_a_stopped_sink_refuses_to_send() -> None:
    sink, _ = _sink({})
    await sink.stop()
    with pytest.raises(SinkUnavailable):
        await sink.send("cx.feedback", None, b"{}")
