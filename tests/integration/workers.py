"""Run real ``cxstream worker`` processes for integration tests and watch their progress."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cxstream.config import Settings
from cxstream.embedded import free_port

__all__ = ["WorkerProcess", "settings_env"]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment variables that give a worker process these settings."""
    topics = settings.topics
    return {
        "CXSTREAM_BROKER": settings.broker,
        "CXSTREAM_REDIS_URL": settings.redis_url,
        "CXSTREAM_APP_ID": settings.app_id,
        "CXSTREAM_KEY_PREFIX": settings.key_prefix,
        "CXSTREAM_PARTITIONS": str(settings.partitions),
        "CXSTREAM_TOPICS__FEEDBACK": topics.feedback,
        "CXSTREAM_TOPICS__LOGISTICS": topics.logistics,
        "CXSTREAM_TOPICS__CUSTOMERS": topics.customers,
        "CXSTREAM_TOPICS__DEADLETTER": topics.deadletter,
        "CXSTREAM_SESSION_TIMEOUT_S": str(settings.session_timeout_s),
        "CXSTREAM_REBALANCE_TIMEOUT_S": str(settings.rebalance_timeout_s),
        "CXSTREAM_BATCH_SIZE": str(settings.batch_size),
        "CXSTREAM_RETRY_MAX_S": str(settings.retry_max_s),
        "CXSTREAM_JOIN_HOLD_S": str(settings.join_hold_s),
        "CXSTREAM_LOG_LEVEL": "info",
    }


class WorkerProcess:
    """One ``python -m cxstream worker`` subprocess with its ``/stats/`` endpoint."""

    def __init__(self, settings: Settings, workdir: Path, name: str = "worker") -> None:
        self.settings = settings
        self.workdir = workdir
        self.name = name
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = dict(os.environ)
        env.update(settings_env(self.settings))
        env["CXSTREAM_WEB_PORT"] = str(self.port)
        env["CXSTREAM_DATADIR"] = str(self.workdir / f"{self.name}-data")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cxstream", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def stats(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats/", timeout=2) as r:
                data: dict[str, Any] = json.loads(r.read())
                return data
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def wait_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.log_tail()}")
            last = self.stats()
            if last is not None and predicate(last):
                return last
            time.sleep(0.2)
        raise AssertionError(
            f"{self.name}: timed out waiting for {what}; last stats {last}\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (a graceful shutdown, committing offsets), SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: a crash, nothing is flushed or committed."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
