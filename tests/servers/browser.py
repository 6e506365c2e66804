"""A headless Chromium driven over the DevTools protocol, for tests that look at pages.

Starts Debian's ``chromium`` (or ``CXSTREAM_TEST_CHROMIUM``) headless with a private
profile and a free debugging port, opens one page target and talks to it over its
WebSocket: navigate, evaluate JavaScript in the page, capture a screenshot. The
process is killed on :meth:`HeadlessChromium.close`, even when a test fails.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import aiohttp

__all__ = ["HeadlessChromium", "chromium_path"]

CHROMIUM_ENV = "CXSTREAM_TEST_CHROMIUM"


def chromium_path() -> str | None:
    """The browser binary: ``CXSTREAM_TEST_CHROMIUM``, else ``chromium`` on PATH."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


class HeadlessChromium:
    """One headless browser with one tab."""

    def __init__(self, binary: str, *, width: int = 1400, height: int = 1000) -> None:
        self.binary = binary
        self.width = width
        self.height = height
        self._profile = tempfile.mkdtemp(prefix="cxstream-chromium-")
        self._process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self, wait_s: float = 30.0) -> None:
        self._process = await asyncio.create_subprocess_exec(
            *[
                self.binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={self._profile}",
                "--remote-debugging-port=0",
                f"--window-size={self.width},{self.height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: close() kills every helper
        )
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + wait_s
        while not port_file.exists() or not port_file.read_text().strip():
            if self._process.returncode is not None:
                raise RuntimeError(f"chromium exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not open its debugging port")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        page = next(t for t in targets if t.get("type") == "page")
        self._ws = await self._session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        await self.call("Page.enable")
        await self.call("Runtime.enable")

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result."""
        assert self._ws is not None, "not started"
        call_id = next(self._ids)
        await self._ws.send_str(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = await asyncio.wait_for(self._ws.receive(), timeout=60)
            if message.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"DevTools connection closed: {message.type}")
            data = json.loads(message.data)
            if data.get("id") == call_id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                result: dict[str, Any] = data.get("result", {})
                return result
            self._events.append(data)

    async def open(self, url: str, wait_s: float = 30.0) -> None:
        """Navigate to ``url`` and wait until the page has loaded."""
        self._events.clear()
        result = await self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise RuntimeError(f"could not open {url}: {result['errorText']}")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            state = await self.evaluate("document.readyState")
            if state == "complete":
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{url} did not finish loading")

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` evaluated in the page."""
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self, path: Path, *, full_page: bool = True) -> bytes:
        """Save a PNG of the page (the whole page unless ``full_page`` is false)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = await self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
            params["captureBeyondViewport"] = True
        result = await self.call("Page.captureScreenshot", **params)
        data = base64.b64decode(result["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._process.wait(), 10)
        shutil.rmtree(self._profile, ignore_errors=True)
