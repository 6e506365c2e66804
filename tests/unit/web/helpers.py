"""Fakes and helpers for the HTTP app's unit tests: a recording sink, settings with
credentials, sample events and an in-process HTTP client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from cxstream.config import Settings, TopicNames
from cxstream.web.settings import WebSettings

__all__ = [
    "HMAC_SECRET",
    "OTHER_TOKEN",
    "TOKEN",
    "RecordingSink",
    "bearer",
    "client_for",
    "customer",
    "dumps",
    "feedback",
    "logistics",
    "make_settings",
]

TOKEN = "survey-token-0123456789"
OTHER_TOKEN = "crm-token-0123456789abc"
HMAC_SECRET = "hmac-secret-0123456789"


class RecordingSink:
    """An :class:`~cxstream.web.sinks.EventSink` that keeps what it was sent (or fails)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes]] = []
        self.fail: Exception | None = None

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        if self.fail is not None:
            raise self.fail
        self.records.append((topic, key, value))

    def on(self, topic: str) -> list[tuple[bytes | None, bytes]]:
        return [(key, value) for t, key, value in self.records if t == topic]


def make_settings(**web: Any) -> Settings:
    """Default topics; ``web`` settings as given (default: two bearer tokens)."""
    web.setdefault(
        "tokens", [{"name": "survey", "token": TOKEN}, {"name": "crm", "token": OTHER_TOKEN}]
    )
    return Settings(topics=TopicNames(), web=WebSettings(**web))


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def feedback(event_id: str = "f-1", **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": "feedback",
        "event_id": event_id,
        "ts": "2026-03-02T10:15:00Z",
        "customer_id": "c-1",
        "order_id": "o-1",
        "score": 3,
        "reasons": ["delivery_late"],
        "channel": "app",
        "country": "DE",
    }
    event.update(fields)
    return {k: v for k, v in event.items() if v is not None}


def logistics(event_id: str = "l-1", **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": "logistics",
        "event_id": event_id,
        "ts": "2026-03-02T09:00:00Z",
        "order_id": "o-2",
        "customer_id": "c-2",
        "type": "shipped",
        "country": "FR",
        "carrier": "dpd",
    }
    event.update(fields)
    return event


def customer(event_id: str = "p-1", **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": "customer",
        "event_id": event_id,
        "ts": "2026-03-02T09:00:00Z",
        "customer_id": "c-3",
        "language": "de",
    }
    event.update(fields)
    return event


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


@asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling ``app`` in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cxstream.test") as client:
        yield client
