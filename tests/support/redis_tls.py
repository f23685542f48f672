"""A private redis-server that speaks TLS only, on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import redis

from tests.support.lifecycle import Running
from tests.support.processes import ManagedProcess
from tests.support.redis_server import redis_server_binary
from tests.support.servers import skip_or_fail
from tests.support.tls import TlsFiles, make_tls_files
from tests.support.waiting import free_port, wait_until


def has_tls(binary: str) -> bool:
    """Whether this redis-server accepts the TLS options (Debian's build does). Listening
    nowhere, it exits at once either way."""
    probe = subprocess.run(
        [binary, "--port", "0", "--tls-port", "0", "--save", "", "--appendonly", "no"],
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    return "Bad directive" not in probe.stdout + probe.stderr


class TlsRedisServer(Running):
    """Append-only Redis with its plain port off (``--port 0``) and TLS on ``port``,
    with a certificate for 127.0.0.1/localhost from a throwaway CA (``ca_file``).
    Clients need no certificate of their own (``--tls-auth-clients no``)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"rediss://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="bh-redis-tls-")
        self.tls: TlsFiles = make_tls_files(Path(self._dir.name) / "tls")
        self.ca_file = str(self.tls.ca_file)
        self._process: ManagedProcess | None = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def client(self) -> redis.Redis:
        """A redis-py client that trusts the throwaway CA (the caller closes it)."""
        return redis.Redis.from_url(self.url, ssl_ca_certs=self.ca_file)

    def _argv(self) -> list[str]:
        """The redis-server command line: TLS only, append-only in the temp dir."""
        return [
            redis_server_binary(),
            "--port", "0",
            "--tls-port", str(self.port),
            "--tls-cert-file", str(self.tls.cert_file),
            "--tls-key-file", str(self.tls.key_file),
            "--tls-ca-cert-file", str(self.tls.ca_file),
            "--tls-auth-clients", "no",
            "--bind", "127.0.0.1",
            "--dir", self._dir.name,
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            "--protected-mode", "no",
        ]  # fmt: skip

    def start(self) -> None:
        """Start redis-server and wait until it answers PING over TLS (skip, or under CI
        fail, where this redis-server was built without TLS)."""
        if not has_tls(redis_server_binary()):
            skip_or_fail(f"{redis_server_binary()} was built without TLS")
        self._process = ManagedProcess(
            "redis-tls", self._argv(), dict(os.environ), Path(self._dir.name)
        )
        process = self._process
        client = self.client()
        try:
            wait_until(
                lambda: _alive(process) and client.ping(),
                timeout_s=15,
                message="TLS redis-server never answered over TLS",
            )
        finally:
            client.close()

    def log_text(self) -> str:
        """What redis-server logged so far."""
        return self._process.log_text() if self._process is not None else ""

    def kill(self) -> None:
        """SIGKILL redis-server, as a crash would (append-only: writes survive)."""
        if self._process is not None:
            self._process.kill()
            self._process.terminate()  # closes the log; the process is gone already
            self._process = None

    def restart(self) -> None:
        """Kill redis-server and start it again on the same port and certificate."""
        self.kill()
        self.start()

    def stop(self) -> None:
        """Stop redis-server (SIGTERM, then SIGKILL after 10 s)."""
        if self._process is not None:
            self._process.terminate()
            self._process = None


def _alive(process: ManagedProcess) -> bool:
    """True while ``process`` runs; its log in an error once it has exited."""
    if process.popen.poll() is not None:
        raise RuntimeError(f"{process.name} exited early:\n{process.log_text()[-4000:]}")
    return True
