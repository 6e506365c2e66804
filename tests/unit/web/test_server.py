"""WebServer: uvicorn in the running loop on a loopback port, stopped without a trace."""

from __future__ import annotations

import asyncio
import signal
import socket

import httpx
import pytest

from cxstream.web.app import create_web_app
from cxstream.web.server import WebServer
from tests.unit.web.helpers import make_settings


def _can_bind(port: int) -> bool:
    """Whether a server could listen on ``port`` again (connections of the stopped one in
    TIME_WAIT do not count, as for any server restarting)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def test_the_server_answers_on_a_free_port_and_releases_it_when_stopped() -> None:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = WebServer(create_web_app(make_settings()), "127.0.0.1", 0, shutdown_timeout_s=1.0)
    await server.start()
    port = server.port
    try:
        assert port > 0
        assert server.running
        assert not _can_bind(port)
        # uvicorn installed no signal handlers of its own.
        assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.get("/healthz")
            assert response.json() == {"status": "ok"}
            # A kept-alive connection does not hold the shutdown up.
            await server.stop()
    finally:
        await server.stop()
    assert not server.running
    assert _can_bind(port)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_port_in_use_raises_on_start() -> None:
    async with WebServer(create_web_app(make_settings()), "127.0.0.1", 0) as first:
        second = WebServer(create_web_app(make_settings()), "127.0.0.1", first.port)
        with pytest.raises(OSError, match="in use"):
            await second.start()
        await second.stop()


async def test_an_open_request_may_finish_during_shutdown() -> None:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(0.3)
        return {"done": True}

    server = WebServer(app, "127.0.0.1", 0, shutdown_timeout_s=2.0)
    await server.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        pending = asyncio.create_task(client.get("/slow"))
        await asyncio.sleep(0.1)
        await server.stop()
        response = await pending
    assert response.json() == {"done": True}
