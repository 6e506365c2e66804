"""A local webhook receiver (aiohttp) that records every request and can fail N times."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

__all__ = ["WebhookReceiver", "WebhookRequest"]


@dataclass(frozen=True)
class WebhookRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


class WebhookReceiver:
    """Answers 204 to ``POST /hook`` (any path), after the scripted failures."""

    def __init__(self) -> None:
        self.requests: list[WebhookRequest] = []
        self._failures: list[int] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def fail_next(self, times: int, status: int = 503) -> None:
        self._failures += [status] * times

    @property
    def delivered(self) -> list[WebhookRequest]:
        return [r for r in self.requests if 200 <= r.status < 300]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self._failures.pop(0) if self._failures else 204
        self.requests.append(WebhookRequest(request.path, dict(request.headers), body, status))
        return web.Response(status=status)
