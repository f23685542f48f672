"""The whole batchhook stack as real processes: web, worker(s) and beat(s) on a private Redis."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

from tests.support.processes import ManagedProcess, run_cli
from tests.support.waiting import free_port, wait_until

TEST_SECRET_KEY = "test-secret-key-for-the-e2e-stack"


def stack_env(redis_url: str, port: int, **overrides: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": tempfile.gettempdir(),
        "BATCHHOOK_REDIS_URL": redis_url,
        "BATCHHOOK_SECRET_KEY": TEST_SECRET_KEY,
        "BATCHHOOK_ALLOW_PRIVATE_DESTINATIONS": "1",
        "BATCHHOOK_RETRY_SCHEDULE": "0.5,0.5,0.5",
        "BATCHHOOK_LOG_FORMAT": "json",
        "BATCHHOOK_TICK_INTERVAL_S": "0.2",
        "BATCHHOOK_DELIVERY_TIMEOUT_S": "2",
        "BATCHHOOK_DELIVERY_LEASE_S": "4",
        "BATCHHOOK_POLL_LEASE_S": "4",
        "BATCHHOOK_DISCOVERY_INTERVAL_S": "0.5",
        "BATCHHOOK_NOT_FOUND_GRACE_S": "1",
        "BATCHHOOK_API_RATE_LIMIT_PER_MIN": "0",  # the suites fire thousands a minute
        "PORT": str(port),
    }
    env.update(overrides)
    return env


class Stack:
    """Starts and stops batchhook's processes; tests talk to it over HTTP like a user."""

    def __init__(self, redis_url: str, log_dir: Path, **env_overrides: str) -> None:
        self.port = free_port()
        self.env = stack_env(redis_url, self.port, **env_overrides)
        self.log_dir = log_dir
        self.processes: dict[str, ManagedProcess] = {}
        self.api_url = f"http://127.0.0.1:{self.port}"

    def start_process(self, name: str, *argv: str) -> ManagedProcess:
        process = ManagedProcess(
            name, [sys.executable, "-m", "worker.cli", *argv], self.env, self.log_dir
        )
        self.processes[name] = process
        return process

    def start_web(self) -> None:
        self.start_process("web", "web")
        wait_until(self._ready, timeout_s=30, message="API never became ready")

    def start_worker(self, name: str = "worker") -> ManagedProcess:
        worker = self.start_process(name, "worker", "--concurrency", "2")
        worker.wait_for_log(r"ready\.", timeout_s=30)
        return worker

    def start_beat(self, name: str = "beat") -> ManagedProcess:
        return self.start_process(name, "beat")

    def start(self) -> Stack:
        self.start_web()
        self.start_worker()
        self.start_beat()
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.api_url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()

    def logs(self) -> str:
        return "\n".join(p.log_text() for p in self.processes.values())

    def cli(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*argv, env=self.env, stdin=stdin)

    def new_token(self, tenant: str | None = None) -> str:
        result = self.cli("tokens", "create", "--tenant", tenant or f"t-{uuid.uuid4().hex[:8]}")
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {token or self.new_token()}"}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=10)
