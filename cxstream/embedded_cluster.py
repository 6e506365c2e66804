"""A local Redis Cluster (three primaries on loopback) for tests of the cluster key layout.

Each node is an :class:`~cxstream.embedded.EmbeddedRedis` started in cluster mode; the
cluster is formed with plain commands (``CLUSTER ADDSLOTS`` and ``CLUSTER MEET``), so
no ``redis-cli`` is needed.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import redis

from cxstream.embedded import EmbeddedRedis, EmbeddedServerError, free_port

__all__ = ["EmbeddedRedisCluster"]

_SLOTS = 16384
#: Cluster nodes talk on their port + 10000, so the port must leave room for that.
_MAX_PORT = 55535


def _cluster_port() -> int:
    for _ in range(100):
        port = free_port()
        if port <= _MAX_PORT and free_port_at(port + 10000):
            return port
    raise EmbeddedServerError("no free port pair for a Redis Cluster node")


def free_port_at(port: int) -> bool:
    """Whether ``port`` on 127.0.0.1 can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class _ClusterNode(EmbeddedRedis):
    name = "redis-cluster-node"

    def _command(self, workdir: Path) -> list[str]:
        return [
            *super()._command(workdir),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(workdir / f"nodes-{self.port}.conf"),
            "--cluster-node-timeout",
            "5000",
        ]


class EmbeddedRedisCluster:
    """``primaries`` cluster-mode Redis nodes sharing the 16384 slots evenly.

    >>> EmbeddedRedisCluster(primaries=3).primaries
    3
    """

    def __init__(self, primaries: int = 3, startup_timeout: float = 30.0) -> None:
        if primaries < 1:
            raise ValueError("a cluster needs at least one primary")
        self.primaries = primaries
        self.startup_timeout = startup_timeout
        self.nodes: list[EmbeddedRedis] = []

    @property
    def url(self) -> str:
        """URL of one node; a cluster client discovers the others from it."""
        if not self.nodes:
            raise EmbeddedServerError("the cluster is not started")
        return self.nodes[0].url

    def start(self) -> Self:
        try:
            for _ in range(self.primaries):
                self.nodes.append(_ClusterNode(port=_cluster_port()).start())
            self._form()
        except BaseException:
            self.stop()
            raise
        return self

    def _form(self) -> None:
        clients = [redis.Redis(port=node.port, decode_responses=True) for node in self.nodes]
        try:
            share = _SLOTS // self.primaries
            for i, client in enumerate(clients):
                first = i * share
                last = _SLOTS - 1 if i == self.primaries - 1 else first + share - 1
                client.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))  # type: ignore[no-untyped-call]
            for node in self.nodes[1:]:
                clients[0].execute_command("CLUSTER MEET", "127.0.0.1", node.port)  # type: ignore[no-untyped-call]
            deadline = time.monotonic() + self.startup_timeout
            while time.monotonic() < deadline:
                states = [c.execute_command("CLUSTER INFO") for c in clients]  # type: ignore[no-untyped-call]
                if all(_state(info) == "ok" for info in states):
                    return
                time.sleep(0.1)
            raise EmbeddedServerError("the local Redis Cluster did not reach state ok")
        finally:
            for client in clients:
                client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _state(info: object) -> str:
    """The ``cluster_state`` field of a ``CLUSTER INFO`` reply (text or parsed)."""
    if isinstance(info, dict):
        return str(info.get("cluster_state", ""))
    for line in str(info).splitlines():
        if line.startswith("cluster_state:"):
            return line.split(":", 1)[1].strip()
    return ""
