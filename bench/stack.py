"""One launcher for a benchmark's processes, and one sampler of their CPU and memory.

``Stack.started`` starts a private Redis, the stand-in provider (``standin_provider.py``),
a receiver stand-in if asked and batchhook's web process, and stops them all (and the
workers and beat started later) on the way out. ``Sampler`` reads every process group's
CPU seconds and RSS from /proc at a fixed period, and batchhook's queue gauges with them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx
from harness import (
    ROOT,
    SECRET_KEY,
    Batchhook,
    Process,
    Redis,
    cpu_seconds,
    free_port,
    metric,
    rss_bytes,
    wait_for,
)

BENCH = ROOT / "bench"
Groups = dict[str, list[int]]  # process name -> the pids of its process group


def start_standin(name: str, script: str, log_dir: Path, *flags: str) -> tuple[Process, str]:
    """One of the bench's aiohttp stand-ins in its own process; waits until it answers."""
    port = free_port()
    argv = [sys.executable, str(BENCH / script), "--port", str(port), *flags]
    process = Process(name, argv, dict(os.environ), log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(f"{url}/_control/", timeout=2).status_code > 0, 30, name)
    return process, url


@dataclass
class Stack:
    """Redis, the stand-in provider, maybe a receiver stand-in, and batchhook."""

    log_dir: Path
    redis: Redis
    provider: Process
    provider_url: str
    bh: Batchhook
    receiver: Process | None = None
    receiver_url: str = ""
    workers: list[str] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def started(
        cls,
        log_dir: Path,
        *,
        provider_flags: tuple[str, ...] = (),
        receiver: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> Iterator[Self]:
        """Everything but the workers and beat, which the caller starts when it is ready.
        ``receiver``: the receiver stand-in's script and its flags, if one is wanted."""
        started: list[Any] = []
        log_dir.mkdir(parents=True, exist_ok=True)
        try:
            redis = Redis(log_dir)
            started.append(redis)
            provider, provider_url = start_standin(
                "provider", "standin_provider.py", log_dir, *provider_flags
            )
            started.append(provider)
            receiver_process, receiver_url = None, ""
            if receiver:
                script, *flags = receiver
                receiver_process, receiver_url = start_standin("receiver", script, log_dir, *flags)
                started.append(receiver_process)
            bh = Batchhook(redis.url, log_dir, **(env or {}))
            started.append(bh)
            bh.start_web()
            yield cls(log_dir, redis, provider, provider_url, bh, receiver_process, receiver_url)
        finally:
            for thing in reversed(started):
                with contextlib.suppress(Exception):
                    thing.stop()

    def start_workers(self, workers: int, concurrency: int) -> None:
        for index in range(workers):
            name = f"worker{index}"
            self.bh.start_worker(name, concurrency=concurrency)
            self.workers.append(name)

    def groups(self) -> Groups:
        found = {name: p.group_pids() for name, p in self.bh.processes.items()}
        found["redis"] = self.redis.process.group_pids()
        found["provider"] = self.provider.group_pids()
        if self.receiver is not None:
            found["receiver"] = self.receiver.group_pids()
        return found

    def cpu_by_group(self) -> dict[str, float]:
        return {name: cpu_seconds(pids) for name, pids in self.groups().items()}

    def rss_by_group(self) -> dict[str, int]:
        return {name: rss_bytes(pids) for name, pids in self.groups().items()}

    def gauges(self) -> dict[str, float]:
        """batchhook's queue gauges from its /metrics."""
        samples = self.bh.metrics()
        return {
            "poll_queue": metric(samples, "batchhook_queue_depth", queue="batchhook.poll"),
            "outbox": metric(samples, "batchhook_outbox_depth"),
            "overdue_s": metric(samples, "batchhook_schedule_overdue_seconds"),
        }

    def provider_get(self, path: str) -> Any:
        return httpx.get(f"{self.provider_url}{path}", timeout=60).json()

    def provider_post(self, path: str, body: dict[str, Any]) -> Any:
        return httpx.post(f"{self.provider_url}{path}", json=body, timeout=60).json()

    def receiver_get(self, path: str, timeout_s: float = 60) -> Any:
        return httpx.get(f"{self.receiver_url}{path}", timeout=timeout_s).json()

    def store(self) -> Any:
        """batchhook's own store on this stack's Redis."""
        from worker.settings import Settings
        from worker.store import open_store

        return open_store(Settings(redis_url=self.redis.url, secret_key=SECRET_KEY))


@dataclass
class Sample:
    at: float
    cpu_s: dict[str, float]
    rss: dict[str, int]
    gauges: dict[str, float] | None  # None: not asked for, or /metrics did not answer


class Sampler(threading.Thread):
    """Every ``every_s``: CPU seconds and RSS of each (live) process group ``groups``
    names, and ``gauges`` if given."""

    def __init__(
        self,
        groups: Callable[[], Groups],
        every_s: float,
        gauges: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.groups = groups
        self.every_s = every_s
        self.read_gauges = gauges
        self.stopped = threading.Event()
        self.samples: list[Sample] = []

    def take(self) -> None:
        cpu, rss = {}, {}
        for name, pids in self.groups().items():
            if pids:
                cpu[name] = cpu_seconds(pids)
                rss[name] = rss_bytes(pids)
        gauges = None
        if self.read_gauges is not None:
            with contextlib.suppress(Exception):
                gauges = self.read_gauges()
        self.samples.append(Sample(time.time(), cpu, rss, gauges))

    def run(self) -> None:
        while not self.stopped.wait(self.every_s):
            with contextlib.suppress(Exception):
                self.take()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)

    def peak_rss(self) -> dict[str, int]:
        """Each group's highest RSS."""
        peaks: dict[str, int] = {}
        for sample in self.samples:
            for name, value in sample.rss.items():
                peaks[name] = max(peaks.get(name, 0), value)
        return peaks

    def peak_rss_mb(self, names: tuple[str, ...]) -> float:
        """The highest sum of the groups' RSS at one sample."""
        return max((sum(s.rss.get(n, 0) for n in names) for s in self.samples), default=0) / 2**20

    def gauge(self, name: str) -> list[float]:
        """The gauge's value at every sample that read it."""
        return [s.gauges[name] for s in self.samples if s.gauges is not None]

    def cpu_between(self, names: tuple[str, ...], start: float, end: float) -> float:
        """The groups' CPU seconds from the first sample at ``start`` or later to the first
        at ``end`` or later (else the last)."""
        first = next(s for s in self.samples if s.at >= start)
        last = next((s for s in self.samples if s.at >= end), self.samples[-1])
        return sum(last.cpu_s.get(n, 0.0) - first.cpu_s.get(n, 0.0) for n in names)
