"""HTTP ingestion: ``POST /ingest/feedback``, ``/ingest/logistics`` and ``/ingest/customers``.

The body is one event object or a JSON array of them, as the event contract defines
them. A request is refused as a whole, with nothing written anywhere, when:

* no credential is configured (404: ingestion is disabled, never open by default), or
  no sink is (503);
* its credentials are missing or wrong (401, see :mod:`cxstream.web.auth`);
* its body is larger than ``web.max_body_bytes`` (413; the body is read only up to the
  limit), or holds more events than the client's burst (413);
* its body is not UTF-8 JSON, or is neither an object nor a non-empty array (400);
* the client's token bucket cannot pay for its events (429 with ``Retry-After``).

Otherwise each event is decoded by the engine's own :class:`~cxstream.decoding.EventDecoder`
(so HTTP and Kafka accept exactly the same events) and must be of the endpoint's kind.
Accepted events are written, byte for byte as the client sent them, to their topic with
the contract's key (:func:`cxstream.producing.route`); rejected ones go to the
dead-letter topic as :class:`~cxstream.decoding.DeadLetter` records whose origin is the
request (:class:`~cxstream.decoding.HttpOrigin`: endpoint, client name, request id, index in
the array).
The answer (200) lists every event's outcome, and is only given once the broker has
acknowledged every record; if it does not in time, the answer is 503 and the client
retries (the engine counts each ``event_id`` once).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cxstream.clock import Clock
from cxstream.config import Settings
from cxstream.decoding import DeadLetter, EventDecoder, HttpOrigin, Rejected
from cxstream.events import CustomerEvent, FeedbackEvent, LogisticsEvent
from cxstream.metrics import Metrics
from cxstream.producing import route
from cxstream.web.auth import SIGNATURE_HEADER, Authenticator, AuthError, PendingSignature
from cxstream.web.ratelimit import RateLimiter
from cxstream.web.sinks import EventSink

__all__ = [
    "ENDPOINTS",
    "AcceptedEvent",
    "IngestResponse",
    "IngestService",
    "Problem",
    "RejectedEvent",
    "ingest_router",
    "split_events",
]

log = logging.getLogger("cxstream.web")

#: Endpoint name -> the event kind it takes.
ENDPOINTS: Final = {"feedback": "feedback", "logistics": "logistics", "customers": "customer"}
_MODELS: Final[dict[str, type[BaseModel]]] = {
    "feedback": FeedbackEvent,
    "logistics": LogisticsEvent,
    "customer": CustomerEvent,
}
_WHITESPACE_CHARS = " \t\n\r"
_WHITESPACE = re.compile(f"[{_WHITESPACE_CHARS}]*")


class AcceptedEvent(BaseModel):
    index: int = Field(description="position in the request (0 for a single object)")
    status: Literal["accepted"] = "accepted"
    event_id: str


class RejectedEvent(BaseModel):
    index: int = Field(description="position in the request (0 for a single object)")
    status: Literal["rejected"] = "rejected"
    reason: str = Field(description="why; the event is on the dead-letter topic with it")


class IngestResponse(BaseModel):
    """Every event's outcome, in request order."""

    accepted: int
    rejected: int
    request_id: str
    results: list[Annotated[AcceptedEvent | RejectedEvent, Field(discriminator="status")]]


class Problem(BaseModel):
    """Why a request was refused (nothing was written)."""

    detail: str


class _Refused(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def split_events(text: str) -> list[str]:
    """The events of a valid JSON body, each as the exact text the client sent.

    Raises :class:`ValueError` (with a message for the client) unless ``text`` is one
    JSON object or a non-empty array.

    >>> split_events('[{"a": 1}, {"b": [2, 3]} ]')
    ['{"a": 1}', '{"b": [2, 3]}']
    >>> split_events(' {"a": 1}\\n')
    ['{"a": 1}']
    """
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise ValueError("malformed JSON: nested too deeply") from None
    if isinstance(body, dict):
        return [text.strip(_WHITESPACE_CHARS)]
    if not isinstance(body, list):
        raise ValueError("the body must be a JSON object or an array of objects")
    if not body:
        raise ValueError("the body is an empty array: no events")
    decoder = json.JSONDecoder()
    items: list[str] = []
    pos = _skip(text, _skip(text, 0) + 1)  # after '['
    while True:
        _, end = decoder.raw_decode(text, pos)
        items.append(text[pos:end])
        pos = _skip(text, end)
        if text[pos] == "]":
            return items
        pos = _skip(text, pos + 1)  # after ','


def _skip(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    return match.end() if match is not None else pos


class IngestService:
    """Authenticate, limit, decode, route and send the events of one request."""

    def __init__(
        self,
        settings: Settings,
        sink: EventSink | None,
        *,
        clock: Clock,
        metrics: Metrics,
        decoder: EventDecoder | None = None,
    ) -> None:
        self.settings = settings
        self.web = settings.web
        self.sink = sink
        self.metrics = metrics
        self.auth = Authenticator(settings.web)
        self.limiter = RateLimiter(
            rate_per_s=settings.web.rate_per_s, burst=settings.web.burst, clock=clock
        )
        self.decoder = decoder or EventDecoder(settings.max_payload_bytes)

    async def handle(self, endpoint: str, request: Request) -> JSONResponse:
        """Answer one ingest request to ``endpoint`` (a key of :data:`ENDPOINTS`)."""
        path = f"/ingest/{endpoint}"
        with self.metrics.timed("http_ingest"):
            try:
                response = await self._handle(endpoint, path, request)
            except _Refused as refused:
                log.info(
                    "ingest request refused (%d): %s",
                    refused.status,
                    refused.detail,
                    extra={"stage": "web", "endpoint": path},
                )
                response = JSONResponse(
                    {"detail": refused.detail}, refused.status, headers=refused.headers
                )
        self.metrics.http_request(path, response.status_code)
        return response

    async def _read_body(self, request: Request) -> bytes:
        limit = self.web.max_body_bytes
        declared = request.headers.get("content-length")
        too_large = _Refused(413, f"the body is larger than the limit of {limit} bytes")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large  # what is left of the body is not read
            chunks.append(chunk)
        return b"".join(chunks)

    async def _handle(self, endpoint: str, path: str, request: Request) -> JSONResponse:
        if not self.auth.enabled:
            raise _Refused(
                404,
                "HTTP ingestion is disabled: no bearer token (web.tokens) and no HMAC secret"
                " (web.hmac) is configured",
            )
        if self.sink is None:
            raise _Refused(503, "HTTP ingestion has no event sink configured")
        authorization = request.headers.get("authorization")
        signature = request.headers.get(SIGNATURE_HEADER)
        unauthorized = {"WWW-Authenticate": 'Bearer realm="cxstream"'}
        try:
            checked = self.auth.before_body(authorization, signature)
        except AuthError as error:
            raise _Refused(401, str(error), unauthorized) from None
        body = await self._read_body(request)
        if isinstance(checked, PendingSignature):
            try:
                client = self.auth.after_body(checked, signature or "", body)
            except AuthError as error:
                raise _Refused(401, str(error), unauthorized) from None
        else:
            client = checked
        try:
            events = split_events(body.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise _Refused(400, f"the body is not valid UTF-8 (at byte {error.start})") from None
        except ValueError as error:
            raise _Refused(400, str(error)) from None
        if len(events) > self.limiter.burst:
            raise _Refused(
                413,
                f"{len(events)} events in one request is more than the limit of"
                f" {self.limiter.burst} (web.burst): send smaller batches",
            )
        decision = self.limiter.acquire(client.name, len(events))
        if not decision.allowed:
            retry = max(1, math.ceil(decision.retry_after_s))
            raise _Refused(
                429,
                f"rate limit of {self.limiter.rate_per_s:g} events/s for {client.name!r}"
                f" exceeded: retry in {retry}s",
                {"Retry-After": str(retry)},
            )
        request_id = uuid.uuid4().hex
        try:
            answer = await self._ingest(endpoint, path, client.name, request_id, events)
        except _Refused:
            self.limiter.refund(client.name, len(events))
            raise
        log.info(
            "ingested %d events from %s: %d accepted, %d rejected",
            len(events),
            client.name,
            answer.accepted,
            answer.rejected,
            extra={
                "stage": "web",
                "endpoint": path,
                "client": client.name,
                "request_id": request_id,
            },
        )
        return JSONResponse(answer.model_dump(mode="json"), 200)

    async def _ingest(
        self, endpoint: str, path: str, client: str, request_id: str, events: list[str]
    ) -> IngestResponse:
        kind = ENDPOINTS[endpoint]
        topics = self.settings.topics
        results: list[AcceptedEvent | RejectedEvent] = []
        records: list[tuple[str, bytes | None, bytes]] = []
        letters: list[DeadLetter] = []
        for index, text in enumerate(events):
            raw = text.encode("utf-8")
            target: tuple[str, bytes | None] | str
            decoded = self.decoder.decode_event(raw)
            if isinstance(decoded, Rejected):
                target = decoded.error
            elif decoded.kind != kind:
                right = next(e for e, k in ENDPOINTS.items() if k == decoded.kind)
                target = (
                    f"wrong endpoint: an event of kind {decoded.kind!r} was posted to {path};"
                    f" post it to /ingest/{right}"
                )
            else:
                target = route(raw, self.settings)  # the contract's topic and key
            if isinstance(target, str):
                origin = HttpOrigin(path, client, request_id, index)
                kept = decoded.raw if isinstance(decoded, Rejected) else raw  # maybe truncated
                # DeadLetter only uses its origin's ``as_dict()``; decoding.Origin does not
                # list the HTTP origin, hence the cast.
                letters.append(DeadLetter(kept, origin, target))
                results.append(RejectedEvent(index=index, reason=target))
            elif not isinstance(decoded, Rejected):
                topic, key = target
                records.append((topic, key, raw))
                results.append(AcceptedEvent(index=index, event_id=decoded.event_id))
        outgoing = records + [(topics.deadletter, None, letter.to_json()) for letter in letters]
        await self._send_all(outgoing)
        for topic, n in Counter(topic for topic, _, _ in records).items():
            self.metrics.event_out(topic, n)
        if letters:
            self.metrics.event_out(topics.deadletter, len(letters))
            for letter in letters:
                self.metrics.deadlettered("http", letter.error)
        return IngestResponse(
            accepted=len(records), rejected=len(letters), request_id=request_id, results=results
        )

    async def _send_all(self, records: list[tuple[str, bytes | None, bytes]]) -> None:
        sink = self.sink
        assert sink is not None
        sends = [sink.send(topic, key, value) for topic, key, value in records]
        try:
            async with asyncio.timeout(self.web.send_timeout_s):
                await asyncio.gather(*sends)
        except TimeoutError:
            raise _Refused(
                503,
                f"the broker did not acknowledge the events within {self.web.send_timeout_s:g}s:"
                " retry later",
                {"Retry-After": "5"},
            ) from None
        except Exception as error:
            log.warning(
                "ingest send failed: %s", error, extra={"stage": "web", "detail": repr(error)}
            )
            raise _Refused(
                503, "the broker is unavailable: retry later", {"Retry-After": "5"}
            ) from None


_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": Problem, "description": "malformed body (nothing written)"},
    401: {"model": Problem, "description": "missing or invalid credentials"},
    404: {"model": Problem, "description": "ingestion disabled: no credential configured"},
    413: {"model": Problem, "description": "body or batch too large (nothing written)"},
    429: {"model": Problem, "description": "rate limit exceeded; see Retry-After"},
    503: {"model": Problem, "description": "broker unavailable; retry (nothing acknowledged)"},
}


def _request_body(kind: str) -> dict[str, Any]:
    schema = _MODELS[kind].model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [schema, {"type": "array", "items": schema}]}
                }
            },
        }
    }


def ingest_router(service: IngestService) -> APIRouter:
    """The ingest routes, answered by ``service``."""
    router = APIRouter(prefix="/ingest", tags=["ingest"])

    def endpoint(name: str) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def ingest(request: Request) -> JSONResponse:
            return await service.handle(name, request)

        ingest.__name__ = f"ingest_{name}"
        ingest.__doc__ = (
            f"Ingest {ENDPOINTS[name]} events: one object or a JSON array of them."
            " Authenticate with `Authorization: Bearer <token>` or"
            f" `{SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the body>`."
        )
        return ingest

    for name in ENDPOINTS:
        router.add_api_route(
            f"/{name}",
            endpoint(name),
            methods=["POST"],
            response_model=IngestResponse,
            responses=_RESPONSES,
            openapi_extra=_request_body(ENDPOINTS[name]),
            summary=f"Ingest {ENDPOINTS[name]} events",
        )
    return router
