"""Fixtures for the notifier tests: a local Slack Web API, an SMTP server, a webhook
receiver and a Redis client, each started for one test and always shut down."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from tests.servers.slack_api import TEST_TOKEN, FakeSlackServer
from tests.servers.smtp import SmtpServer
from tests.servers.webhook import WebhookReceiver


@pytest.fixture
async def slack_server() -> AsyncIterator[FakeSlackServer]:
    """A local Slack Web API (token ``TEST_TOKEN``, channels ``ops-alerts`` and
    ``vip-care``) on the test's event loop."""
    server = FakeSlackServer(token=TEST_TOKEN)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running SMTP server on a free loopback port; the test may stop and restart it."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def webhook_server() -> AsyncIterator[WebhookReceiver]:
    """A webhook receiver answering 204 (after any failures the test scripts)."""
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.close()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client of the shared test Redis (``decode_responses=True``)."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()
