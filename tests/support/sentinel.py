"""A Redis Sentinel deployment on free loopback ports: a primary, one replica and
three sentinels (quorum 2), which a test may fail over on demand."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from tests.support.lifecycle import Running
from tests.support.processes import ManagedProcess
from tests.support.redis_server import redis_server_binary
from tests.support.waiting import free_port, wait_until

HOST = "127.0.0.1"
Address = tuple[str, int]

# Sentinel's own timers, shortened through ``SENTINEL DEBUG`` (a Redis 7 command meant
# for tests): INFO every second instead of every 10 s and hello messages every 0.5 s
# instead of 2 s, so sentinels find each other, and turn an old primary into a replica
# after a failover, in about a second instead of 10-20 s.
FAST_TIMERS: dict[str, int] = {"info-period": 1000, "publish-period": 500}


def _client(port: int) -> redis.Redis:
    """A short-lived client of one loopback node or sentinel (the caller closes it)."""
    return redis.Redis(
        host=HOST, port=port, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
    )


def _ask(port: int, question: Callable[[redis.Redis], Any]) -> Any:
    """Put ``question`` to the node or sentinel on ``port`` over a fresh connection."""
    with _client(port) as client:
        return question(client)


def _alive(process: ManagedProcess) -> bool:
    """True while ``process`` runs; its log in an error once it has exited."""
    if process.popen.poll() is not None:
        raise RuntimeError(f"{process.name} exited early:\n{process.log_text()[-4000:]}")
    return True


def _healthy(state: dict[str, Any]) -> bool:
    """Whether a sentinel's view of an instance (``SENTINEL replicas`` or ``sentinels``
    entry) says it is reachable: neither down nor disconnected."""
    return not (state["is_sdown"] or state["is_odown"] or state["is_disconnected"])


def _role(port: int) -> list[Any]:
    """The ``ROLE`` reply of the node on ``port``."""
    return list(_ask(port, lambda client: client.execute_command("ROLE")))


def is_master(port: int) -> bool:
    """Whether the node on ``port`` answers ``ROLE`` as a master."""
    return bool(_role(port)[0] == "master")


def is_connected_replica_of(port: int, primary_port: int) -> bool:
    """Whether the node on ``port`` is a replica of ``primary_port`` with its link up."""
    role = _role(port)
    return role[0] == "slave" and int(role[2]) == primary_port and role[3] == "connected"


class SentinelSet(Running):
    """A primary, one replica (``--replicaof``) and three ``redis-server --sentinel``
    processes monitoring them as ``master_name`` with quorum 2, in one temp dir."""

    def __init__(self, master_name: str = "bh-primary", fast_timers: bool = True) -> None:
        self.master_name = master_name
        self.primary_port = free_port()
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[Address] = [(HOST, port) for port in self.sentinel_ports]
        self.sentinels_env = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        self._fast_timers = fast_timers
        self._dir = tempfile.TemporaryDirectory(prefix="bh-sentinel-")
        self._root = Path(self._dir.name)
        self._nodes: list[ManagedProcess] = []
        self._sentinel_processes: list[ManagedProcess] = []

    # -- start-up ------------------------------------------------------------------

    def start(self) -> None:
        """Start both data nodes, then the sentinels, and wait until every sentinel
        knows the primary, the replica and the two other sentinels."""
        self._start_node("primary", self.primary_port)
        self._start_node("replica", self.replica_port, "--replicaof", HOST, str(self.primary_port))
        wait_until(
            lambda: is_connected_replica_of(self.replica_port, self.primary_port),
            timeout_s=15,
            message="the replica never synced with the primary",
        )
        for port in self.sentinel_ports:
            self._start_sentinel(port)
        self._wait_sentinels_agree(self.primary_port, self.replica_port)

    def _start_node(self, name: str, port: int, *extra: str) -> None:
        """Start one append-only data node in its own subdirectory; wait for PING."""
        directory = self._root / name
        directory.mkdir()
        argv = [
            redis_server_binary(),
            "--port", str(port),
            "--bind", HOST,
            "--dir", str(directory),
            "--appendonly", "yes",
            "--save", "",
            "--protected-mode", "no",
            "--repl-diskless-sync-delay", "0",  # a full sync at once, not after 5 s
            *extra,
        ]  # fmt: skip
        process = ManagedProcess(name, argv, dict(os.environ), self._root)
        self._nodes.append(process)
        wait_until(
            lambda: _alive(process) and _ask(port, lambda client: client.ping()),
            timeout_s=15,
            message=f"{name} redis-server never answered",
        )

    def _sentinel_conf(self, port: int) -> Path:
        """Write the sentinel.conf of the sentinel on ``port`` (which it rewrites)."""
        directory = self._root / f"sentinel-{port}"
        directory.mkdir()
        name = self.master_name
        lines = [
            f"port {port}",
            f"bind {HOST}",
            "protected-mode no",
            f"dir {directory}",
            "sentinel resolve-hostnames no",
            f"sentinel monitor {name} {HOST} {self.primary_port} 2",
            f"sentinel down-after-milliseconds {name} 1000",
            f"sentinel failover-timeout {name} 5000",
            f"sentinel parallel-syncs {name} 1",
        ]
        conf = directory / "sentinel.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def _start_sentinel(self, port: int) -> None:
        """Start the sentinel on ``port``, wait until it answers, shorten its timers."""
        argv = [redis_server_binary(), str(self._sentinel_conf(port)), "--sentinel"]
        process = ManagedProcess(f"sentinel-{port}", argv, dict(os.environ), self._root)
        self._sentinel_processes.append(process)
        wait_until(
            lambda: _alive(process) and _ask(port, lambda client: client.ping()),
            timeout_s=15,
            message=f"sentinel on {port} never answered",
        )
        if self._fast_timers:
            with _client(port) as client:
                for timer, value in FAST_TIMERS.items():
                    client.execute_command("SENTINEL", "DEBUG", timer, value)

    def _sentinel_is_ready(self, port: int, primary_port: int, replica_port: int) -> bool:
        """Whether the sentinel on ``port`` sees ``primary_port`` as the master, lists
        ``replica_port`` as a healthy replica and both other sentinels as healthy."""
        if self._ask_primary(port) != (HOST, primary_port):
            return False
        replicas = _ask(port, lambda client: client.sentinel_slaves(self.master_name))
        sentinels = _ask(port, lambda client: client.sentinel_sentinels(self.master_name))
        replica_ok = any(
            state["port"] == replica_port and _healthy(state) and state.get("is_slave")
            for state in replicas
        )
        others = {state["port"] for state in sentinels if _healthy(state)}
        return replica_ok and others == set(self.sentinel_ports) - {port}

    def _wait_sentinels_agree(self, primary_port: int, replica_port: int) -> None:
        """Wait until every sentinel is ready for a failover of ``primary_port``."""
        for port in self.sentinel_ports:
            wait_until(
                functools.partial(self._sentinel_is_ready, port, primary_port, replica_port),
                timeout_s=30,
                interval_s=0.1,
                message=f"sentinel on {port} never saw the replica and the other sentinels",
            )

    # -- questions and failover ----------------------------------------------------

    def _ask_primary(self, port: int) -> Address:
        """The primary's address according to the sentinel on ``port``."""
        host, primary = _ask(
            port, lambda client: client.sentinel_get_master_addr_by_name(self.master_name)
        )
        return str(host), int(primary)

    def current_primary(self) -> Address:
        """The primary's (host, port) as the first answering sentinel reports it."""
        last_error: Exception | None = None
        for port in self.sentinel_ports:
            try:
                return self._ask_primary(port)
            except redis.RedisError as error:
                last_error = error
        raise RuntimeError(f"no sentinel answered: {last_error!r}")

    def current_replica_port(self) -> int:
        """The data node's port that is not the current primary's."""
        primary = self.current_primary()[1]
        return self.replica_port if primary == self.primary_port else self.primary_port

    def failover(self, timeout_s: float = 30) -> Address:
        """``SENTINEL FAILOVER``, then wait until all sentinels report the other node as
        primary, it answers ``ROLE`` as master, the old primary is its connected replica,
        and every sentinel is ready for the next failover. Returns the new primary."""
        old, new = self.current_primary()[1], self.current_replica_port()
        _ask(self.sentinel_ports[0], lambda client: client.sentinel_failover(self.master_name))
        wait_until(
            lambda: all(self._ask_primary(port) == (HOST, new) for port in self.sentinel_ports),
            timeout_s=timeout_s,
            interval_s=0.05,
            message=f"the sentinels never reported {new} as the primary",
        )
        wait_until(
            lambda: is_master(new), timeout_s=timeout_s, message=f"{new} never became master"
        )
        wait_until(
            lambda: is_connected_replica_of(old, new),
            timeout_s=timeout_s,
            interval_s=0.05,
            message=f"the old primary {old} never became a replica of {new}",
        )
        self._wait_sentinels_agree(new, old)
        return HOST, new

    def wait_replicated(self, timeout_s: float = 10) -> None:
        """Wait until the replica has acknowledged every write made to the primary."""
        primary = self.current_primary()[1]
        acked = _ask(primary, lambda client: client.wait(1, int(timeout_s * 1000)))
        if int(acked) < 1:
            raise TimeoutError(f"the replica did not acknowledge the writes in {timeout_s}s")

    def node_client(self, port: int) -> redis.Redis:
        """A client of one data node by port, strings decoded (the caller closes it)."""
        return _client(port)

    # -- shutdown ------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the sentinels first (so they do not react), then the data nodes, and
        remove the temp dir."""
        for process in [*self._sentinel_processes, *self._nodes]:
            process.terminate()
        self._sentinel_processes.clear()
        self._nodes.clear()
        self._dir.cleanup()
