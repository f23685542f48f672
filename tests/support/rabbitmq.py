"""A fresh RabbitMQ vhost per test, on the machine's broker at 127.0.0.1:5672 (guest/guest).

Vhosts are made with ``rabbitmqctl`` when it can reach the broker, else with the
management HTTP API (port 15672) when it is enabled. When nothing answers on 5672, a
private ``rabbitmq-server`` is started on free ports in a temp dir (also forced with
``BATCHHOOK_TEST_RABBITMQ=private``). When none of that works, the test is skipped."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import httpx
import kombu

from tests.support.lifecycle import Running
from tests.support.processes import ManagedProcess
from tests.support.servers import skip_or_fail
from tests.support.waiting import free_port, wait_until

HOST = "127.0.0.1"
AMQP_PORT = 5672
MANAGEMENT_PORT = 15672
USER, PASSWORD = "guest", "guest"
FORCE_ENV = "BATCHHOOK_TEST_RABBITMQ"  # "private": always start a private rabbitmq-server
PRIVATE_SCRIPTS = Path("/usr/lib/rabbitmq/bin")  # Debian's, past the wrapper that su's


def port_answers(port: int, host: str = HOST) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class VhostAdmin(Protocol):
    """Creates and deletes vhosts on one broker, the guest user allowed everything."""

    def add(self, vhost: str) -> None: ...

    def delete(self, vhost: str) -> None: ...

    def exists(self, vhost: str) -> bool: ...


class CtlAdmin:
    """Vhosts through ``rabbitmqctl`` (about a second a call: it boots an Erlang VM)."""

    def __init__(
        self, ctl: str, node: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        self._argv = [ctl, "--quiet", *(["-n", node] if node else [])]
        self._env = env

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """One rabbitmqctl command; its output in the error when ``check`` and it fails."""
        done = subprocess.run(
            [*self._argv, *args],
            env=self._env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr or done.stdout}")
        return done

    def works(self) -> bool:
        """Whether rabbitmqctl reaches the broker at all (``list_vhosts`` succeeds)."""
        try:
            return self._run("list_vhosts", check=False).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def add(self, vhost: str) -> None:
        """``add_vhost`` then ``set_permissions -p vhost guest ".*" ".*" ".*"``."""
        self._run("add_vhost", vhost)
        self._run("set_permissions", "-p", vhost, USER, ".*", ".*", ".*")

    def delete(self, vhost: str) -> None:
        """``delete_vhost`` (its queues and exchanges go with it)."""
        self._run("delete_vhost", vhost)

    def exists(self, vhost: str) -> bool:
        """Whether ``list_vhosts`` names ``vhost``."""
        listed = self._run("list_vhosts", "name", "--no-table-headers").stdout
        return vhost in listed.split()


class HttpAdmin:
    """Vhosts through the management plugin's HTTP API, as guest."""

    def __init__(self, port: int = MANAGEMENT_PORT) -> None:
        self._base = f"http://{HOST}:{port}/api"

    def _request(self, method: str, path: str, body: object = None) -> httpx.Response:
        """One API call as guest; the response, whatever its status."""
        return httpx.request(
            method, f"{self._base}{path}", auth=(USER, PASSWORD), json=body, timeout=10
        )

    def works(self) -> bool:
        """Whether the API answers guest (``GET /api/overview`` is 200)."""
        try:
            return self._request("GET", "/overview").status_code == 200
        except httpx.HTTPError:
            return False

    def add(self, vhost: str) -> None:
        """``PUT /api/vhosts/V`` then guest's permissions on it."""
        name = quote(vhost, safe="")
        self._request("PUT", f"/vhosts/{name}").raise_for_status()
        grant = {"configure": ".*", "write": ".*", "read": ".*"}
        self._request("PUT", f"/permissions/{name}/{USER}", grant).raise_for_status()

    def delete(self, vhost: str) -> None:
        """``DELETE /api/vhosts/V``."""
        self._request("DELETE", f"/vhosts/{quote(vhost, safe='')}").raise_for_status()

    def exists(self, vhost: str) -> bool:
        """Whether ``GET /api/vhosts/V`` finds it."""
        return self._request("GET", f"/vhosts/{quote(vhost, safe='')}").status_code == 200


@dataclass(frozen=True)
class Vhost:
    """One test's vhost and the AMQP URL that reaches it as guest."""

    name: str
    url: str


class PrivateRabbit:
    """A ``rabbitmq-server`` of its own: a unique node name, free AMQP and Erlang
    distribution ports on loopback, every file (cookie, mnesia, logs) in a temp dir."""

    def __init__(self) -> None:
        self.port = free_port()
        self.node = f"bh-test-{uuid.uuid4().hex[:8]}@localhost"
        self._dir = tempfile.TemporaryDirectory(prefix="bh-rabbitmq-")
        self._root = Path(self._dir.name)
        self.env = self._environment()
        self._process: ManagedProcess | None = None

    def _environment(self) -> dict[str, str]:
        """The server's (and its rabbitmqctl's) environment: everything in the temp dir,
        the system's rabbitmq-env.conf left out, so it shares nothing with the system node."""
        root = self._root
        (root / "enabled_plugins").write_text("[].\n")
        (root / "rabbitmq-env.conf").write_text("")
        (root / "rabbitmq.conf").write_text("")
        return {
            **os.environ,
            "HOME": str(root),  # the Erlang cookie is made here, for server and ctl alike
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),  # else AMQP port + 20000, maybe > 65535
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_PID_FILE": str(root / "rabbitmq.pid"),
            "RABBITMQ_CONF_ENV_FILE": str(root / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "ERL_EPMD_ADDRESS": HOST,
        }

    @staticmethod
    def available() -> bool:
        """Whether Debian's rabbitmq-server scripts are installed."""
        return (PRIVATE_SCRIPTS / "rabbitmq-server").exists()

    def admin(self) -> CtlAdmin:
        """A rabbitmqctl aimed at this node, with its cookie."""
        return CtlAdmin(str(PRIVATE_SCRIPTS / "rabbitmqctl"), node=self.node, env=self.env)

    def start(self, timeout_s: float = 90) -> None:
        """Start the node and wait until it accepts AMQP and rabbitmqctl reaches it."""
        argv = [str(PRIVATE_SCRIPTS / "rabbitmq-server")]
        self._process = ManagedProcess("rabbitmq", argv, self.env, self._root, cwd=self._root)
        process, admin = self._process, self.admin()

        def ready() -> bool:
            if process.popen.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited early:\n{process.log_text()[-4000:]}")
            return port_answers(self.port) and admin.works()

        wait_until(ready, timeout_s=timeout_s, interval_s=0.5, message="rabbitmq-server not up")

    def stop(self) -> None:
        """Stop the node (rabbitmqctl stop, then the process group) and remove its files."""
        if self._process is not None:
            self.admin()._run("stop", check=False)
            self._process.terminate(timeout_s=30)
            self._process = None
        self._dir.cleanup()


class RabbitBroker(Running):
    """A reachable RabbitMQ and a way to make vhosts on it; a context manager that
    stops the private server, if one had to be started."""

    def __init__(self, port: int, admin: VhostAdmin, private: PrivateRabbit | None = None):
        self.host = HOST
        self.port = port
        self.admin = admin
        self._private = private

    def close(self) -> None:
        if self._private is not None:
            self._private.stop()

    def url(self, vhost: str) -> str:
        """The guest AMQP URL of ``vhost`` on this broker."""
        return f"amqp://{USER}:{PASSWORD}@{self.host}:{self.port}/{quote(vhost, safe='')}"

    @contextmanager
    def vhost(self, prefix: str = "bh-test") -> Iterator[Vhost]:
        """A new vhost, reachable by kombu as guest, deleted on exit."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.admin.add(name)
        try:
            fresh = Vhost(name, self.url(name))
            check_kombu_connects(fresh.url)
            yield fresh
        finally:
            self.admin.delete(name)


def check_kombu_connects(url: str) -> None:
    """Open (then close) a kombu connection to ``url``, a few retries allowed."""
    with kombu.Connection(url, connect_timeout=5) as connection:
        connection.ensure_connection(max_retries=3)


@functools.cache  # probing rabbitmqctl costs a second: once a test run
def _system_admin() -> VhostAdmin | None:
    """Something that makes vhosts on the system broker: rabbitmqctl, else the HTTP API."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is not None:
        admin = CtlAdmin(ctl)
        if admin.works():
            return admin
    if port_answers(MANAGEMENT_PORT):
        http = HttpAdmin()
        if http.works():
            return http
    return None


def _private_broker() -> RabbitBroker:
    """A broker of its own, started now; skips the test when it cannot be started."""
    if not PrivateRabbit.available():
        skip_or_fail(f"no RabbitMQ on {HOST}:{AMQP_PORT} and no rabbitmq-server to start")
    private = PrivateRabbit()
    try:
        private.start()
    except (RuntimeError, TimeoutError, OSError) as error:
        private.stop()
        skip_or_fail(f"could not start a private rabbitmq-server: {error}")
    return RabbitBroker(private.port, private.admin(), private)


def rabbitmq_or_skip() -> RabbitBroker:
    """The system RabbitMQ at 127.0.0.1:5672 with a vhost admin, else a private one,
    else ``pytest.skip`` saying why. Use it as a context manager (``with ... as b``)."""
    if os.environ.get(FORCE_ENV) == "private" or not port_answers(AMQP_PORT):
        return _private_broker()
    admin = _system_admin()
    if admin is None:
        skip_or_fail(
            f"RabbitMQ answers on {HOST}:{AMQP_PORT} but neither rabbitmqctl nor the "
            f"management API (port {MANAGEMENT_PORT}) can create vhosts here"
        )
    return RabbitBroker(AMQP_PORT, admin)


@contextmanager
def rabbitmq_vhost(prefix: str = "bh-test") -> Iterator[Vhost]:
    """One fresh vhost on whatever RabbitMQ ``rabbitmq_or_skip`` finds, for one test."""
    with rabbitmq_or_skip() as broker, broker.vhost(prefix) as fresh:
        yield fresh
