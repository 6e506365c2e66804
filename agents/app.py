"""The Faust application: topics, the ingest agent and the worker's lifecycle hooks.

All decisions are made by :mod:`cxstream` (the same engine ``cxstream replay``
runs); this module only connects it to Kafka. Values are consumed as raw bytes and
decoded by the engine's own decoder, in batches.

The worker's HTTP surface (:mod:`agents.http`) is served on the worker's own event
loop on ``web_port`` (0: no HTTP server) by a service that starts with the app and
stops with it; Faust's own aiohttp web server is disabled.
One :class:`~cxstream.metrics.Metrics` is shared by the ingest runtime, the detection
and delivery loops, the publishing functions here and the HTTP app.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import faust
from faust.types import TP

from cxstream.alignment import EventTimeAligner
from cxstream.config import Settings
from cxstream.delivery import DeliveryLoop, RedisScheduledActions
from cxstream.detection_setup import action_planner, detection_stage, load_rule_set
from cxstream.dispatch_setup import build_dispatcher
from cxstream.engine import Engine, EngineOptions
from cxstream.firing import RedisFiringAlerts
from cxstream.metrics import Metrics
from cxstream.planning import RedisTaskAcknowledgements
from cxstream.records import ActionRecord, AlertRecord, CorrectionRecord
from cxstream.redis_store import RedisStateStore
from cxstream.rules.silences import RedisSilenceStore
from cxstream.watermarks import RedisWatermarkStore

from .delivery import run_delivery
from .detection import DetectionLoop
from .http import http_service
from .runtime import IngestRuntime
from .transport import consumer_class

__all__ = ["create_app"]

log = logging.getLogger("cxstream.worker")


def _faust_settings(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "broker": [f"kafka://{host.strip()}" for host in settings.broker.split(",")],
        "store": "memory://",
        "value_serializer": "raw",
        "key_serializer": "raw",
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": settings.session_timeout_s,
        "broker_rebalance_timeout": settings.rebalance_timeout_s,
        "broker_heartbeat_interval": max(0.5, settings.session_timeout_s / 5),
        "broker_commit_every": 10_000,
        "broker_commit_interval": 1.0,
        "stream_buffer_maxsize": max(4096, settings.batch_size * 2),
        # Held or in-flight events are not waited for at shutdown or when partitions are
        # revoked: unacknowledged, they are read again by the next owner (after its seek to
        # the committed offsets), and their state writes are idempotent. Waiting would only
        # stall the rebalance behind feedback the aligner holds.
        "stream_wait_empty": False,
        "producer_linger_ms": 5,
        # The HTTP surface is cxstream's own ASGI app (see _http_service), not Faust's.
        "web_enabled": False,
        "datadir": str(settings.datadir),
        "logging_config": None,
    }
    if settings.kafka_username and settings.kafka_password:
        options["broker_credentials"] = faust.SASLCredentials(
            username=settings.kafka_username,
            password=settings.kafka_password.get_secret_value(),
            mechanism=settings.kafka_sasl_mechanism,
        )
    return options


def create_app(settings: Settings) -> faust.App:
    """Build the worker's Faust app for these settings (raises
    :class:`~cxstream.rules.RulesError` naming every problem of an invalid rule set)."""
    rule_set = load_rule_set(settings)
    app = faust.App(settings.app_id, **_faust_settings(settings))
    # Messages reach the agents' channels without a task per message, and a quiet topic
    # (the outbox) is not held up by Faust's fixed 1.5 s fetch wait.
    app.transport.Consumer = consumer_class(settings.fetch_max_wait_ms)  # type: ignore[misc]
    names = settings.topics
    inputs = app.topic(
        names.feedback,
        names.logistics,
        names.customers,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
    )
    deadletters = app.topic(names.deadletter, key_type=bytes, value_type=bytes)
    alerts_topic = app.topic(names.alerts, key_type=bytes, value_type=bytes)
    actions_topic = app.topic(names.actions, key_type=bytes, value_type=bytes)
    actions_deadletter = app.topic(names.actions_deadletter, key_type=bytes, value_type=bytes)
    corrections_topic = app.topic(names.corrections, key_type=bytes, value_type=bytes)
    reference_topics = {names.logistics, names.customers}
    input_topics = {names.feedback, names.logistics, names.customers}
    state: dict[str, Any] = {}
    metrics = Metrics()

    def lag(stream: str) -> int | None:
        """Records of a partition not yet read (None while the broker has not said)."""
        topic, _, partition = stream.rpartition("/")
        tp = TP(topic, int(partition))
        highwater = app.consumer.highwater(tp)
        if highwater is None:
            return None
        # Where the consumer stands: after what we received, or where it was seeked to
        # (the committed offset) when nothing has been received since the assignment.
        seeked = getattr(app.consumer, "_read_offset", {}).get(tp) or 0
        position = max(runtime().last_offsets.get(stream, -1) + 1, int(seeked))
        return max(0, int(highwater) - position)

    async def send_dead_letters(letters: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Send a batch's dead letters together and wait until the broker has all of them
        (a retry after a failure may send some twice: dead letters are at-least-once)."""
        futures = [await deadletters.send(key=key, value=value) for key, value in letters]
        await asyncio.gather(*futures)
        metrics.event_out(names.deadletter, len(letters))

    async def publish_alerts(
        records: Sequence[AlertRecord],
        actions: Sequence[ActionRecord],
        corrections: Sequence[CorrectionRecord] = (),
    ) -> None:
        """Send alert lines keyed by alert id, actions keyed by action id and corrections
        keyed by correction id, and wait until the broker has all of them."""
        futures = [
            await alerts_topic.send(key=r.alert_id.encode(), value=r.to_json().encode())
            for r in records
        ]
        futures += [
            await actions_topic.send(key=a.action_id.encode(), value=a.to_json().encode())
            for a in actions
        ]
        futures += [
            await corrections_topic.send(key=c.correction_id.encode(), value=c.to_json().encode())
            for c in corrections
        ]
        await asyncio.gather(*futures)
        metrics.event_out(names.alerts, len(records))
        metrics.event_out(names.actions, len(actions))
        metrics.event_out(names.corrections, len(corrections))

    async def send_action_deadletter(action: ActionRecord, record: dict[str, Any]) -> None:
        await (
            await actions_deadletter.send(
                key=action.action_id.encode(), value=json.dumps(record, default=str).encode()
            )
        )
        metrics.event_out(names.actions_deadletter)

    def caught_up(stream: str) -> bool:
        return lag(stream) == 0 and stream not in runtime().aligner.held_streams()

    def ack(event: Any) -> None:
        event.ack()  # the consumer commits the offset once every earlier one is acked

    def runtime() -> IngestRuntime:
        rt: IngestRuntime | None = state.get("runtime")
        if rt is None:
            store = RedisStateStore.from_settings(settings)
            engine = Engine(store, EngineOptions.from_settings(settings))
            aligner: EventTimeAligner[Any] = EventTimeAligner.from_settings(settings, lag)
            watermarks = RedisWatermarkStore(store.client, settings.key_prefix)
            firing = RedisFiringAlerts(store.client, settings.key_prefix)
            rt = IngestRuntime(
                settings,
                engine,
                aligner,
                send_dead_letters,
                ack,
                watermarks=watermarks,
                planner=action_planner(settings, store, rule_set),
                firing=firing,
                publish_actions=lambda actions: publish_alerts((), actions),
                metrics=metrics,
            )
            state["runtime"], state["store"] = rt, store
            state["delivery"] = DeliveryLoop(
                build_dispatcher(settings, client=store.client, rule_set=rule_set),
                RedisScheduledActions(store.client, settings.key_prefix),
                RedisTaskAcknowledgements(store.client, key_prefix=settings.key_prefix),
                send_action_deadletter,
                backoff=rt.backoff,
                metrics=metrics,
            )
            state["detection"] = DetectionLoop(
                detection_stage(
                    settings,
                    store,
                    rule_set=rule_set,
                    silences=RedisSilenceStore(store.client, settings.key_prefix),
                    firing=firing,
                    report_url=settings.web.public_url,
                ),
                watermarks,
                publish_alerts,
                streams=[
                    f"{topic}/{p}"
                    for topic in sorted(input_topics)
                    for p in range(settings.partitions)
                ],
                idle_after_s=settings.idle_after_s,
                backoff=rt.backoff,
                firing=firing,
                metrics=metrics,
                on_watermark=engine.observe_watermark,
            )
        return rt

    def delivery() -> DeliveryLoop:
        runtime()
        loop: DeliveryLoop = state["delivery"]
        return loop

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        rt = runtime()
        rt.aligner.expect(
            f"{tp.topic}/{tp.partition}" for tp in assigned if tp.topic in reference_topics
        )
        await rt.recover(sorted({tp.partition for tp in assigned if tp.topic in input_topics}))
        owned = app.consumer.assignment()
        await detection().assign(
            [tp.partition for tp in owned if tp.topic == names.feedback],
            [f"{tp.topic}/{tp.partition}" for tp in owned if tp.topic in input_topics],
        )

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        streams = [f"{tp.topic}/{tp.partition}" for tp in revoked]
        rt = runtime()
        rt.aligner.forget(streams)  # not acknowledged: the next owner reads them again
        for stream in streams:
            rt.last_offsets.pop(stream, None)

    @app.agent(inputs, name="cxstream-ingest", concurrency=1)
    async def ingest(stream: Any) -> None:
        """Take the agent's events off its channel in batches.

        Faust's conductor has already put the raw events on the channel's queue; taking
        them in bulk, and acknowledging each one only after its state is written, keeps
        Faust's offset tracking and rebalance handling without its per-event stream
        processing (the engine decodes and batches by itself).
        """
        rt = runtime()
        queue = stream.channel.queue
        loop = asyncio.get_running_loop()
        batch_size, within = settings.batch_size, settings.batch_within_s
        stopping = False  # Faust tells the agent to stop by StopAsyncIteration
        while not (stopping or stream.should_stop):
            try:
                events = [await asyncio.wait_for(queue.get(), timeout=1.0)]
            except TimeoutError:
                continue
            except StopAsyncIteration:
                break
            deadline = loop.time() + within
            try:
                while len(events) < batch_size:
                    if not queue.empty():
                        events.append(queue.get_nowait())
                        continue
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    events.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                pass
            except StopAsyncIteration:
                stopping = True  # the events taken so far are still processed
            generation = app.consumer_generation_id
            await rt.handle(
                [
                    (m.topic, m.partition, m.offset, m.key, m.value, e)
                    for e in events
                    # Fetched before a rebalance: the partition's new owner reads it again.
                    if (m := e.message).generation_id in (None, generation)
                ]
            )

    @app.timer(interval=0.2)
    async def release_held() -> None:
        rt: IngestRuntime | None = state.get("runtime")
        # During a rebalance held feedback stays put: the revoked partitions' share is let go
        # (unacknowledged, read again after the seek) by ``_revoked``.
        if rt is not None and rt.aligner.held and not app.rebalancing:
            await rt.flush_held()

    def detection() -> DetectionLoop:
        runtime()
        loop: DetectionLoop = state["detection"]
        return loop

    @app.timer(interval=1.0)
    async def detect() -> None:
        rt: IngestRuntime | None = state.get("runtime")
        if rt is None or app.rebalancing:
            return
        try:
            await detection().tick(rt.last_event_at, caught_up)
        except Exception:  # the next tick tries again from the last checkpoint
            log.exception("detection tick failed", extra={"stage": "detection"})

    @app.agent(actions_topic, name="cxstream-deliver", concurrency=1)
    async def deliver(stream: Any) -> None:
        """Deliver the decided actions from the outbox, several at a time (see
        :mod:`agents.delivery`); an offset is committed once its delivery is settled
        (sent, held for later, skipped, or dead-lettered)."""

        async def reject(event: Any, error: ValueError) -> None:
            raw = event.message.value or b""
            log.error("unreadable action: %s", error, extra={"stage": "delivery"})
            await (
                await actions_deadletter.send(
                    key=event.message.key,
                    value=json.dumps(
                        {"error": str(error), "raw": raw.decode("utf-8", "replace")}
                    ).encode(),
                )
            )
            metrics.event_out(names.actions_deadletter)
            metrics.deadlettered("action", "unreadable action")

        def current(event: Any) -> bool:
            # Fetched before a rebalance: the partition's new owner reads it again.
            return event.message.generation_id in (None, app.consumer_generation_id)

        await run_delivery(
            stream,
            delivery().handle,
            reject,
            concurrency=settings.dispatch.concurrency,
            current=current,
        )

    @app.timer(interval=1.0)
    async def release_scheduled() -> None:
        if "delivery" in state and not app.rebalancing:
            try:
                await delivery().release_due()
            except Exception:  # tried again on the next tick; nothing was removed
                log.exception("releasing held actions failed", extra={"stage": "delivery"})

    def stats() -> dict[str, Any]:
        """Running totals of this worker (``GET /stats``)."""
        body: dict[str, Any] = {"ready": "runtime" in state}
        if "runtime" in state:
            body.update(runtime().stats.as_dict())
            body["held"] = runtime().aligner.held
            body["redis_round_trips"] = state["store"].round_trips
            body["alerts_published"] = detection().alerts_published
            body["corrections_published"] = detection().corrections_published
            body["actions_published"] = detection().actions_published
            body["deliveries"] = dict(delivery().counts)
            body["windows_closed"] = detection().stage.windows_closed
            body["windows_skipped"] = detection().stage.windows_skipped
        return body

    def refresh_lag() -> None:
        """Set the lag gauge from the assigned input partitions (at each scrape)."""
        if "runtime" not in state:
            return
        lags: dict[tuple[str, int], int] = {}
        for tp in app.consumer.assignment():
            if tp.topic in input_topics:
                behind = lag(f"{tp.topic}/{tp.partition}")
                if behind is not None:
                    lags[(tp.topic, tp.partition)] = behind
        metrics.set_lags(lags)

    metrics.before_collect(refresh_lag)
    if settings.web_port > 0:
        app.service(http_service(settings, rule_set, metrics, stats))

    @app.timer(interval=30.0)
    async def report() -> None:
        if "runtime" in state:
            log.info("ingest %s", runtime().stats.as_dict(), extra={"stage": "ingest"})

    app.cxstream_state = state  # type: ignore[attr-defined]
    app.cxstream_metrics = metrics  # type: ignore[attr-defined]
    return app
