"""Serve an ASGI app with uvicorn inside the event loop that is already running.

:class:`WebServer` binds the listening socket itself (so a port in use raises
:class:`OSError` in :meth:`WebServer.start` instead of uvicorn's ``sys.exit``, and
port 0 picks a free port that :attr:`WebServer.port` reports), runs
:meth:`uvicorn.Server.serve` as a task of the current loop without installing signal
handlers (the process's owner, e.g. Faust's worker, keeps handling SIGTERM/SIGINT)
and without the ASGI lifespan (the owner starts and stops the app's dependencies).
:meth:`WebServer.stop` lets open requests finish for at most ``shutdown_timeout_s``,
then closes the socket: no port stays bound. Typical use::

    async with WebServer(app, "127.0.0.1", 0) as server:
        print(server.port)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

import uvicorn

__all__ = ["WebServer"]

log = logging.getLogger("cxstream.web")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the process's owner handles signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class WebServer:
    """One uvicorn server for ``app`` on ``host:port``, as a task of the running loop."""

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        *,
        shutdown_timeout_s: float = 5.0,
        access_log: bool = False,
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.shutdown_timeout_s = shutdown_timeout_s
        self.access_log = access_log
        self._socket: socket.socket | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (the chosen one when asked for port 0)."""
        if self._socket is None:
            raise RuntimeError("the server is not running")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Bind and serve; returns once the server accepts connections (raises
        :class:`OSError` if the address cannot be bound)."""
        if self._task is not None:
            raise RuntimeError("the server was started already")
        self._socket = _bind(self.host, self.requested_port)
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=self.access_log,
            timeout_graceful_shutdown=max(1, round(self.shutdown_timeout_s)),
        )
        self._server = server = _Server(config)
        self._task = asyncio.create_task(server.serve(sockets=[self._socket]), name="web-server")
        while not server.started:
            if self._task.done():
                sock, self._socket = self._socket, None
                sock.close()
                self._task.result()  # raises what stopped it
                raise RuntimeError("the web server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("serving HTTP on %s:%d", self.host, self.port, extra={"stage": "web"})

    async def stop(self) -> None:
        """Stop accepting, let open requests finish (bounded), release the port."""
        server, task, sock = self._server, self._task, self._socket
        self._server = self._task = None
        if server is not None and task is not None:
            server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(task), self.shutdown_timeout_s + 2.0)
            except TimeoutError:
                server.force_exit = True
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            except Exception:
                log.exception("the web server failed", extra={"stage": "web"})
        if sock is not None:
            sock.close()
            self._socket = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
