"""Turn raw bytes from a topic or a file line into a typed event, or a dead letter.

The decoder never raises for bad input: every payload comes back either as an
accepted :class:`Envelope` or as a :class:`DeadLetter` that carries the raw
payload, where it came from and a reason a person can read.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cxstream.events import CustomerEvent, FeedbackEvent, LogisticsEvent, event_adapter

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "DeadLetter",
    "DecodedEvent",
    "Envelope",
    "EventDecoder",
    "FileOrigin",
    "HttpOrigin",
    "KafkaOrigin",
    "Origin",
    "Rejected",
]

MAX_PAYLOAD_BYTES = 64 * 1024

#: What an accepted payload decodes to.
DecodedEvent = FeedbackEvent | LogisticsEvent | CustomerEvent

# The adapter's core validator, called directly (the adapter's own method only adds a call).
_validate_json = event_adapter.validator.validate_json


@dataclass(frozen=True, slots=True)
class KafkaOrigin:
    """Where a record was read from a Kafka topic."""

    topic: str
    partition: int
    offset: int

    @property
    def stream(self) -> str:
        return f"{self.topic}/{self.partition}"

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


@dataclass(frozen=True, slots=True)
class FileOrigin:
    """Where a record was read from a JSON Lines file (1-based line number)."""

    file: str
    line: int

    @property
    def stream(self) -> str:
        return f"file:{self.file}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line}


@dataclass(frozen=True, slots=True)
class HttpOrigin:
    """Where an event posted to the HTTP ingestion came from: the request and the
    event's place in its body."""

    endpoint: str
    client: str
    request_id: str
    index: int

    @property
    def stream(self) -> str:
        return f"http:{self.endpoint}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "client": self.client,
            "request_id": self.request_id,
            "index": self.index,
        }


Origin = KafkaOrigin | FileOrigin | HttpOrigin


@dataclass(frozen=True, slots=True)
class Envelope:
    """An accepted event with its origin.

    ``stream`` and ``seq`` identify the event's position in an ordered input
    (a topic partition and its offset, or a replay and its position) so that
    state updates can be applied idempotently when a batch is processed again.
    """

    event: DecodedEvent
    origin: Origin
    stream: str
    seq: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """A payload the decoder rejected (perhaps truncated) and why, before it has an origin."""

    raw: bytes
    error: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected payload, kept with its origin and the reason it was rejected."""

    raw: bytes
    origin: Origin
    error: str

    def as_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = dict(self.origin.as_dict())
        record["error"] = self.error
        try:
            record["raw"] = self.raw.decode("utf-8")
        except UnicodeDecodeError:
            record["raw"] = self.raw.decode("utf-8", errors="backslashreplace")
            record["raw_base64"] = base64.b64encode(self.raw).decode("ascii")
        return record

    def to_json(self) -> bytes:
        return json.dumps(self.as_dict(), ensure_ascii=False).encode("utf-8")


_JSON_TYPE_NAMES = {"dict": "object", "list": "array", "str": "string", "NoneType": "null"}


def _describe(error: ValidationError) -> str:
    """Say what is wrong with a payload in words an operator understands."""
    parts: list[str] = []
    problems = error.errors(include_url=False)
    for item in problems[:5]:
        location = [str(p) for p in item["loc"]]
        # The first element of a tagged union's location is the kind itself.
        if location and location[0] in ("feedback", "logistics", "customer"):
            location = location[1:]
        field = ".".join(location)
        value = item.get("input")
        shown = repr(value) if not isinstance(value, dict) else "an object"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        kind = item["type"]
        if kind == "union_tag_invalid":
            tag = repr(item.get("ctx", {}).get("tag", value))
            parts.append(f"unknown kind {tag}: expected feedback, logistics or customer")
        elif kind == "union_tag_not_found":
            parts.append("field 'kind' is missing: expected feedback, logistics or customer")
        elif not field:
            name = type(value).__name__
            parts.append(f"payload must be a JSON object, got {_JSON_TYPE_NAMES.get(name, name)}")
        elif kind == "missing":
            parts.append(f"field '{field}' is required but missing")
        else:
            parts.append(f"field '{field}': {item['msg']} (got {shown})")
    if len(problems) > len(parts):
        parts.append(f"and {len(problems) - len(parts)} more problem(s)")
    return "; ".join(parts)


class EventDecoder:
    """Validate raw payloads against the event contract.

    >>> decoder = EventDecoder()
    >>> from cxstream.decoding import FileOrigin
    >>> out = decoder.decode(b'{"kind": "nope"}', FileOrigin("x.jsonl", 1), "s", 1)
    >>> out.error
    "unknown kind 'nope': expected feedback, logistics or customer"
    """

    def __init__(self, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> None:
        self.max_payload_bytes = max_payload_bytes

    def decode(self, raw: bytes, origin: Origin, stream: str, seq: int) -> Envelope | DeadLetter:
        event = self.decode_event(raw)
        if isinstance(event, Rejected):
            return DeadLetter(event.raw, origin, event.error)
        return Envelope(event, origin, stream, seq)

    def decode_event(self, raw: bytes) -> DecodedEvent | Rejected:
        """The event in ``raw``, or why it was rejected (what :meth:`decode` does, without
        an origin)."""
        if len(raw) > self.max_payload_bytes:
            return Rejected(
                raw[: self.max_payload_bytes],
                f"payload of {len(raw)} bytes exceeds the limit of {self.max_payload_bytes} bytes"
                " (raw payload truncated)",
            )
        try:
            event: DecodedEvent = _validate_json(raw)  # rejects bytes that are not UTF-8
        except ValidationError as exc:
            invalid = [e for e in exc.errors() if e["type"] == "json_invalid"]
            if invalid:
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as bad:
                    return Rejected(
                        raw, f"payload is not valid UTF-8 ({bad.reason} at byte {bad.start})"
                    )
                detail = invalid[0].get("ctx", {}).get("error") or invalid[0]["msg"]
                return Rejected(raw, f"invalid JSON: {detail}")
            try:
                reason = _describe(exc)
            except Exception:
                reason = str(exc)
            return Rejected(raw, reason)
        except Exception as exc:
            return Rejected(raw, f"could not decode payload: {type(exc).__name__}: {exc}")
        return event
