"""Child processes in their own session, and the ``cxstream worker`` process in particular.

:class:`ChildProcess` runs a command in a new session (so that it and everything it
starts can be signalled as one process group) with its output in a log file. It is
stopped with SIGTERM (after a SIGCONT, in case it was frozen), then SIGKILL if it
outlives a timeout, and reaped; that also happens when the interpreter exits, and on
Linux a child started from the main thread gets a signal (by default SIGKILL) if its
parent dies without cleaning up (a worker may wait for its broker forever on SIGTERM,
and its state in Redis is safe to abandon). :class:`cxstream.embedded.EmbeddedServer`
runs its servers as such children too.

:class:`WorkerProcess` is ``python -m cxstream worker`` given a :class:`Settings`
object, either as ``CXSTREAM_*`` environment variables (:func:`settings_env`) or as a
private JSON file passed with ``--config``; inherited ``CXSTREAM_*`` variables are
dropped, so the worker runs with exactly those settings, except for its web port (a
free one) and its data directory (its own, under the work directory). It reads the
worker's ``/stats/`` page and waits for conditions on it.

Typical use::

    with WorkerProcess(settings, workdir) as worker:
        worker.wait_until(lambda stats: stats.get("ready", False), 60.0, "worker ready")
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from pydantic import SecretStr

from cxstream.config import Settings

__all__ = [
    "ChildProcess",
    "WorkerProcess",
    "WorkerProcessError",
    "free_port",
    "read_log_tail",
    "settings_env",
    "write_settings_file",
]

_ENV_PREFIX = "CXSTREAM_"
_NESTED = "__"
_PR_SET_PDEATHSIG = 1
_LOG_TAIL_BYTES = 32_768
_STATS_TIMEOUT_S = 2.0
_LOOPBACK = "127.0.0.1"


class WorkerProcessError(RuntimeError):
    """A child process exited, or a condition on it did not hold in time."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free at the time of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def read_log_tail(path: Path | None, lines: int, max_bytes: int = _LOG_TAIL_BYTES) -> str:
    """The last ``lines`` lines in the last ``max_bytes`` of ``path`` (empty if none)."""
    if path is None or not path.exists():
        return ""
    text = path.read_bytes()[-max_bytes:].decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _plain_settings(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-compatible values, secrets included."""
    data = settings.model_dump(mode="json")
    for name, value in settings:
        if isinstance(value, SecretStr):
            data[name] = value.get_secret_value()
    return data


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``CXSTREAM_*`` environment variables that give a worker every one of ``settings``.

    Nested settings become ``CXSTREAM_<NAME>__<FIELD>`` variables, lists and other
    non-strings their JSON text; unset optional settings (``None``) are left out.
    """
    env: dict[str, str] = {}
    for name, value in _plain_settings(settings).items():
        fields = value.items() if isinstance(value, dict) else [(None, value)]
        for field, item in fields:
            key = _ENV_PREFIX + name.upper() + (f"{_NESTED}{field.upper()}" if field else "")
            if item is not None:
                env[key] = item if isinstance(item, str) else json.dumps(item)
    return env


def write_settings_file(settings: Settings, path: Path) -> None:
    """Write ``settings`` (secrets included) as a JSON file only the owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(_plain_settings(settings), handle)


def _die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to send ``sig`` to the child when its parent dies.

    Linux ties this to the forking thread, so it is only used from the main thread.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(_PR_SET_PDEATHSIG, int(sig))


class ChildProcess:
    """A command run in its own session, its output appended to ``log_path``.

    ``env`` is the child's whole environment (default: this process's). :meth:`stop`
    and :meth:`kill` act on the child's whole process group and reap the child.
    ``death_signal`` is what the child gets if this process dies without stopping it.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_timeout: float = 20.0,
        death_signal: signal.Signals = signal.SIGKILL,
    ) -> None:
        self.argv = list(argv)
        self.name = name or Path(self.argv[0]).name
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.stop_timeout = stop_timeout
        self.death_signal = death_signal
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once the child has exited (negative: the signal that ended it)."""
        return self._process.poll() if self._process is not None else None

    def start(self) -> Self:
        """Start the child (raises :class:`OSError` if the command cannot be run)."""
        if self._process is not None:
            raise WorkerProcessError(f"{self.name} was already started")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
                preexec_fn=_die_with_parent(self.death_signal),
            )
        atexit.register(self.stop)
        return self

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to exit and return its exit code.

        Raises :class:`subprocess.TimeoutExpired` after ``timeout`` seconds.
        """
        if self._process is None:
            raise WorkerProcessError(f"{self.name} was not started")
        return self._process.wait(timeout=timeout)

    def signal_group(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the child's process group, unless the child has exited."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)

    def stop(self, timeout: float | None = None, *, sig: signal.Signals = signal.SIGTERM) -> None:
        """Send ``sig`` (a graceful shutdown), then SIGKILL after ``timeout`` seconds.

        A frozen (SIGSTOP) group gets SIGCONT first. ``timeout`` defaults to
        ``stop_timeout``; a child that has exited is only reaped.
        """
        process = self._process
        if process is None:
            return
        self.signal_group(signal.SIGCONT)
        self.signal_group(sig)
        try:
            process.wait(timeout=self.stop_timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self._exited()

    def kill(self) -> None:
        """SIGKILL the group at once, as in a crash (nothing is flushed), and reap the child."""
        process = self._process
        if process is None:
            return
        self.signal_group(signal.SIGKILL)
        process.wait()
        self._exited()

    def _exited(self) -> None:
        atexit.unregister(self.stop)

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the log (empty if there is none)."""
        return read_log_tail(self.log_path, lines)

    def failure(self, reason: str) -> WorkerProcessError:
        """An error saying ``reason``, with the last lines of the log."""
        return WorkerProcessError(
            f"{self.name}: {reason}; last log lines:\n{self.log_tail() or '(empty)'}"
        )

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, pid={self.pid})"


class WorkerProcess(ChildProcess):
    """``python -m cxstream worker`` with ``settings``; its files are under ``workdir``.

    The log is ``<name>.log`` and the data directory ``<name>-data``. With
    ``settings_file`` the settings go to a private ``<name>-settings.json`` passed with
    ``--config`` (removed once the worker has exited) instead of environment variables.
    ``extra_env`` is added to the environment last.
    """

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        name: str = "worker",
        *,
        extra_env: Mapping[str, str] | None = None,
        settings_file: bool = False,
        stop_timeout: float = 20.0,
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.datadir = workdir / f"{name}-data"
        self.settings = settings.model_copy(update={"web_port": self.port, "datadir": self.datadir})
        self.settings_path = workdir / f"{name}-settings.json" if settings_file else None
        self.stats_url = f"http://127.0.0.1:{self.port}/stats/"
        argv = [sys.executable, "-m", "cxstream", "worker"]
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_ENV_PREFIX)}
        if self.settings_path is None:
            env.update(settings_env(self.settings))
        else:
            argv += ["--config", str(self.settings_path)]
        env.update(extra_env or {})
        super().__init__(
            argv,
            log_path=workdir / f"{name}.log",
            name=name,
            env=env,
            cwd=workdir,
            stop_timeout=stop_timeout,
        )

    def start(self) -> Self:
        if self.settings_path is None:
            return super().start()
        write_settings_file(self.settings, self.settings_path)
        try:
            return super().start()
        except BaseException:
            self.settings_path.unlink(missing_ok=True)
            raise

    def _exited(self) -> None:
        super()._exited()
        if self.settings_path is not None:
            self.settings_path.unlink(missing_ok=True)

    def stats(self) -> dict[str, Any] | None:
        """The worker's ``/stats/`` totals, or ``None`` while it does not answer."""
        try:
            with urllib.request.urlopen(self.stats_url, timeout=_STATS_TIMEOUT_S) as response:
                data = json.loads(response.read())
        except (OSError, ValueError, http.client.HTTPException):
            return None
        return data if isinstance(data, dict) else None

    def wait_until(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float,
        what: str,
        *,
        poll_s: float = 0.2,
    ) -> dict[str, Any]:
        """Poll ``/stats/`` until ``predicate`` holds for them; return those stats.

        Raises :class:`WorkerProcessError` (with the log tail) if the worker exits, or
        if ``what`` does not come true within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while True:
            if not self.running:
                raise self.failure(f"exited with code {self.returncode} waiting for {what}")
            last = self.stats()
            if last is not None and predicate(last):
                return last
            if time.monotonic() >= deadline:
                raise self.failure(
                    f"timed out after {timeout:.0f}s waiting for {what}; last stats {last}"
                )
            time.sleep(poll_s)
