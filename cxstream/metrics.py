"""Prometheus metrics of a worker: what came in, what went out, how long each stage took.

A :class:`Metrics` object owns its own :class:`~prometheus_client.CollectorRegistry`
(never the process-wide default one), so tests and several apps in one process each
get their own. The worker builds one and hands it to the ingest runtime, the
detection loop, the delivery loop and the HTTP app, which serves it at ``/metrics``;
each of those classes creates a private one when none is given, so metrics are
always optional for their callers.

Every label has a bounded set of values: topic names come from the configuration,
stages, action types and outcomes are fixed by the code, dead-letter reasons are
reduced to a few kinds (:func:`reason_kind`), and a KPI's label drops the reason code
(``reason_share:delivery_late`` is counted as ``reason_share``).

>>> m = Metrics()
>>> m.event_in("cx.feedback", 3)
>>> m.deadlettered("kafka", "field 'score': Input should be less than or equal to 10 (got 11)")
>>> text = m.render().decode()
>>> 'cxstream_events_in_total{topic="cx.feedback"} 3.0' in text
True
>>> 'cxstream_deadlettered_total{reason_kind="invalid_field",source="kafka"} 1.0' in text
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Final, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = [
    "ACTION_OUTCOMES",
    "CONTENT_TYPE",
    "REASON_KINDS",
    "STAGES",
    "ActionOutcome",
    "DeadLetterSource",
    "Metrics",
    "Stage",
    "kpi_label",
    "reason_kind",
]

#: The ``Content-Type`` of :meth:`Metrics.render`'s output.
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

Stage = Literal["ingest_batch", "detection", "dispatch", "http_ingest"]
STAGES: Final[tuple[Stage, ...]] = ("ingest_batch", "detection", "dispatch", "http_ingest")
ActionOutcome = Literal["decided", "sent", "failed", "deadlettered"]
ACTION_OUTCOMES: Final[tuple[ActionOutcome, ...]] = ("decided", "sent", "failed", "deadlettered")
#: Where a dead letter came from: an input topic, a file (replay), the HTTP ingest
#: endpoints, or the delivery of an action.
DeadLetterSource = Literal["kafka", "file", "http", "action"]

#: Dead-letter reason kinds, from the decoder's messages (and the HTTP and delivery paths).
REASON_KINDS: Final = (
    "too_large",
    "not_utf8",
    "invalid_json",
    "not_object",
    "unknown_kind",
    "missing_field",
    "invalid_field",
    "wrong_kind",
    "delivery_failed",
    "other",
)

_REASON_PREFIXES: Final = (
    ("payload of ", "too_large"),
    ("payload is not valid UTF-8", "not_utf8"),
    ("invalid JSON", "invalid_json"),
    ("payload must be a JSON object", "not_object"),
    ("unknown kind", "unknown_kind"),
    ("field 'kind' is missing", "unknown_kind"),
    ("wrong endpoint", "wrong_kind"),
    ("delivery failed", "delivery_failed"),
)

_STAGE_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
_SCORE_BUCKETS: Final = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def reason_kind(error: str) -> str:
    """The kind of a dead-letter reason, one of :data:`REASON_KINDS`.

    >>> reason_kind("field 'country' is required but missing")
    'missing_field'
    >>> reason_kind("invalid JSON: EOF while parsing a value at line 1 column 1")
    'invalid_json'
    """
    for prefix, kind in _REASON_PREFIXES:
        if error.startswith(prefix):
            return kind
    if error.startswith("field '"):
        first = error.split(";", 1)[0]
        return "missing_field" if first.endswith("is required but missing") else "invalid_field"
    return "other"


def kpi_label(kpi: str) -> str:
    """A KPI name without its free part (reason codes are open-ended).

    >>> kpi_label("reason_share:delivery_late"), kpi_label("nps")
    ('reason_share', 'nps')
    """
    return kpi.split(":", 1)[0]


class Metrics:
    """The worker's metrics, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events_in_total = Counter(
            "cxstream_events_in", "Events read from an input topic.", ["topic"], registry=r
        )
        self.events_out_total = Counter(
            "cxstream_events_out",
            "Records written to a topic once the broker acknowledged them (alerts, actions,"
            " dead letters, and events ingested over HTTP).",
            ["topic"],
            registry=r,
        )
        self.deadlettered_total = Counter(
            "cxstream_deadlettered",
            "Payloads and actions sent to a dead-letter topic, by source and kind of reason.",
            ["source", "reason_kind"],
            registry=r,
        )
        self.stage_seconds = Histogram(
            "cxstream_stage_seconds",
            "Time spent in one run of a processing stage (a batch, a detection tick, one"
            " action's dispatch, one HTTP ingest request).",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.detector_score = Histogram(
            "cxstream_detector_score",
            "Detector scores (0..1) of alert state changes, by KPI.",
            ["kpi"],
            buckets=_SCORE_BUCKETS,
            registry=r,
        )
        self.actions_total = Counter(
            "cxstream_actions",
            "Actions by type and outcome (decided, sent, failed, deadlettered).",
            ["type", "outcome"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "cxstream_consumer_lag",
            "Records of an assigned input partition not read yet.",
            ["topic", "partition"],
            registry=r,
        )
        self.late_events_total = Counter(
            "cxstream_late_events",
            "Events more than allowed_lateness_s behind the latest event time of their input"
            " partition (counted, and reported as corrections if their window was judged).",
            registry=r,
        )
        self.http_ingest_requests_total = Counter(
            "cxstream_http_ingest_requests",
            "HTTP ingest requests by endpoint and response status.",
            ["endpoint", "status"],
            registry=r,
        )
        self._before_collect: list[Callable[[], None]] = []

    # -- recording --------------------------------------------------------------------

    def event_in(self, topic: str, n: int = 1) -> None:
        self.events_in_total.labels(topic).inc(n)

    def events_in(self, counts: Mapping[str, int]) -> None:
        for topic, n in counts.items():
            self.events_in_total.labels(topic).inc(n)

    def event_out(self, topic: str, n: int = 1) -> None:
        if n:
            self.events_out_total.labels(topic).inc(n)

    def deadlettered(self, source: DeadLetterSource, error: str, n: int = 1) -> None:
        self.deadlettered_total.labels(source, reason_kind(error)).inc(n)

    def observe_stage(self, stage: Stage, seconds: float) -> None:
        self.stage_seconds.labels(stage).observe(seconds)

    @contextmanager
    def timed(self, stage: Stage) -> Iterator[None]:
        """Observe how long the ``with`` block takes as one run of ``stage`` (also when it
        raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe_stage(stage, time.perf_counter() - start)

    def score(self, kpi: str, score: float) -> None:
        self.detector_score.labels(kpi_label(kpi)).observe(score)

    def action(self, action_type: str, outcome: ActionOutcome, n: int = 1) -> None:
        if n:
            self.actions_total.labels(action_type, outcome).inc(n)

    def actions_decided(self, types: Iterable[str]) -> None:
        for action_type in types:
            self.actions_total.labels(action_type, "decided").inc()

    def set_lags(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Replace the lag gauge with these partitions' lags (revoked ones disappear)."""
        self.consumer_lag.clear()
        for (topic, partition), lag in lags.items():
            self.consumer_lag.labels(topic, str(partition)).set(lag)

    def http_request(self, endpoint: str, status: int) -> None:
        self.http_ingest_requests_total.labels(endpoint, str(status)).inc()

    # -- exposition -------------------------------------------------------------------

    def before_collect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` before each :meth:`render` (to refresh gauges such as the lag);
        an exception in it is ignored (the gauge keeps its last values)."""
        self._before_collect.append(callback)

    def render(self) -> bytes:
        """All metrics in the Prometheus text format (see :data:`CONTENT_TYPE`)."""
        for callback in self._before_collect:
            try:
                callback()
            except Exception:  # a scrape must not fail because one gauge could not refresh
                continue
        return generate_latest(self.registry)
