"""A local Slack Web API: the methods cxstream calls, on a free loopback port.

Speaks ``auth.test``, ``chat.postMessage``, ``chat.update``,
``files.getUploadURLExternal``, the upload URL it hands out (``POST /upload/<file id>``,
raw bytes, answered in ``text/plain`` like files.slack.com) and
``files.completeUploadExternal``. Arguments are read from the query string, form and
JSON bodies alike, as Slack does. The bearer token is checked (a wrong one gets
``{"ok": false, "error": "invalid_auth"}``), channels are resolved by name or id
(unknown: ``channel_not_found``) and Block Kit limits are checked (``invalid_blocks``).

Every request is recorded (:attr:`FakeSlackServer.calls`). :meth:`FakeSlackServer.script`
makes the next N calls of a method answer with another status (e.g. 429 with a
``Retry-After`` header, or 500) before it behaves normally again.

It runs on the test's own event loop (``await server.start()`` / ``await server.close()``).
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["TEST_TOKEN", "UPLOAD", "FakeSlackServer", "SlackCall", "UploadedFile"]

UPLOAD = "upload"
#: The bot token the local server accepts by default (a secret in the tests' eyes).
TEST_TOKEN = "xoxb-cxstream-test-secret-token"


@dataclass
class SlackCall:
    """One request: the API method (or ``upload``), its arguments, what was answered."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    body: bytes
    status: int = 200
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class UploadedFile:
    file_id: str
    filename: str
    length: int
    alt_txt: str | None = None
    data: bytes | None = None
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    completed: bool = False


@dataclass
class _Scripted:
    status: int
    retry_after: int | None
    error: str | None


class FakeSlackServer:
    """The Slack Web API subset, in memory."""

    def __init__(
        self,
        token: str = TEST_TOKEN,
        channels: Mapping[str, str] | None = None,
    ) -> None:
        self.token = token
        self.channels = dict(channels or {"ops-alerts": "C0OPS", "vip-care": "C0VIP"})
        self.calls: list[SlackCall] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.files: dict[str, UploadedFile] = {}
        self._script: dict[str, deque[_Scripted]] = defaultdict(deque)
        self._ts = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- control -------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
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
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def script(
        self,
        method: str,
        *,
        status: int,
        times: int = 1,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``status`` (and a
        ``Retry-After`` header, and ``{"ok": false, "error": error}``)."""
        for _ in range(times):
            self._script[method].append(_Scripted(status, retry_after, error))

    def calls_of(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    def succeeded(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls_of(method) if c.status == 200 and c.answer.get("ok")]

    def channel_id(self, name_or_id: str) -> str | None:
        name = name_or_id.lstrip("#")
        if name in self.channels:
            return self.channels[name]
        return name if name in self.channels.values() else None

    # -- handlers ------------------------------------------------------------------

    async def _args(self, request: web.Request, body: bytes) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        ctype = request.content_type
        if ctype == "application/json" and body:
            args.update(json.loads(body))
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        return args

    def _scripted(self, method: str, call: SlackCall) -> web.Response | None:
        queue = self._script.get(method)
        if not queue:
            return None
        step = queue.popleft()
        headers = {"Retry-After": str(step.retry_after)} if step.retry_after is not None else {}
        answer = {"ok": False, "error": step.error or f"http_{step.status}"}
        call.status, call.answer = step.status, answer
        return web.json_response(answer, status=step.status, headers=headers)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.read()
        args = await self._args(request, body)
        call = SlackCall(method, args, dict(request.headers), body)
        self.calls.append(call)
        scripted = self._scripted(method, call)
        if scripted is not None:
            return scripted
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            answer: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
        else:
            handler = {
                "auth.test": self._auth_test,
                "chat.postMessage": self._post_message,
                "chat.update": self._update,
                "files.getUploadURLExternal": self._get_upload_url,
                "files.completeUploadExternal": self._complete_upload,
            }.get(method)
            answer = handler(args) if handler else {"ok": False, "error": "unknown_method"}
        call.answer = answer
        return web.json_response(answer)

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        body = await request.read()
        call = SlackCall(UPLOAD, {"file_id": file_id}, dict(request.headers), body)
        self.calls.append(call)
        scripted = self._scripted(UPLOAD, call)
        if scripted is not None:
            return scripted
        upload = self.files.get(file_id)
        if upload is None:
            call.status = 404
            return web.Response(status=404, text="unknown upload", content_type="text/plain")
        upload.data = body
        call.answer = {"ok": True}
        return web.Response(text=f"OK - {len(body)}", content_type="text/plain")

    # -- methods -------------------------------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "team": "cxstream-test", "user": "cxstream", "user_id": "U0BOT"}

    @staticmethod
    def _blocks_error(blocks: Any) -> str | None:
        if blocks is None:
            return None
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not isinstance(blocks, list) or len(blocks) > 50:
            return "invalid_blocks"
        for block in blocks:
            kind = block.get("type")
            if kind == "header" and len(block["text"]["text"]) > 150:
                return "invalid_blocks"
            if kind == "section":
                if "text" not in block and "fields" not in block:
                    return "invalid_blocks"
                if len(block.get("text", {}).get("text", "")) > 3000:
                    return "invalid_blocks"
                if len(block.get("fields", [])) > 10:
                    return "invalid_blocks"
        return None

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channel_id(str(args.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        error = self._blocks_error(args.get("blocks"))
        if error:
            return {"ok": False, "error": error}
        n = next(self._ts)
        ts = f"{1700000000 + n}.{n:06d}"
        self.messages[(channel, ts)] = dict(args)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": args.get("text")}}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channel_id(str(args.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = str(args.get("ts", ""))
        if (channel, ts) not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        error = self._blocks_error(args.get("blocks"))
        if error:
            return {"ok": False, "error": error}
        self.messages[(channel, ts)] = dict(args)
        return {"ok": True, "channel": channel, "ts": ts, "text": args.get("text")}

    def _get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename, length = args.get("filename"), args.get("length")
        if not filename or not str(length or "").isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._file_ids):08d}"
        self.files[file_id] = UploadedFile(
            file_id, str(filename), int(str(length)), alt_txt=args.get("alt_txt")
        )
        return {
            "ok": True,
            "file_id": file_id,
            "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}",
        }

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            items = json.loads(args.get("files", ""))
        except json.JSONDecodeError:
            return {"ok": False, "error": "invalid_arguments"}
        channel = args.get("channel_id")
        if channel is not None and self.channel_id(str(channel)) is None:
            return {"ok": False, "error": "channel_not_found"}
        done = []
        for item in items:
            upload = self.files.get(item.get("id"))
            if upload is None or upload.data is None or len(upload.data) != upload.length:
                return {"ok": False, "error": "file_not_found"}
            upload.title = item.get("title")
            upload.channel = str(channel) if channel is not None else None
            upload.thread_ts = args.get("thread_ts")
            upload.completed = True
            done.append({"id": upload.file_id, "name": upload.filename, "title": upload.title})
        return {"ok": True, "files": done}
