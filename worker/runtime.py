"""Per-process resources of a worker: one event loop, the HTTP clients and the store.

Celery's prefork pool forks children after the app is imported, so everything here is
made lazily, once per process id, and reused by every task that process runs.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from httpx_aiohttp import AiohttpTransport

from worker.settings import Settings, get_settings
from worker.store import Store, open_store

T = TypeVar("T")


@dataclass
class Runtime:
    settings: Settings
    store: Store
    runner: asyncio.Runner = field(default_factory=asyncio.Runner)
    _poll_client: httpx.AsyncClient | None = None
    _delivery_client: httpx.AsyncClient | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    @property
    def poll_client(self) -> httpx.AsyncClient:
        """Provider calls: pooled keep-alive connections through aiohttp (fast path)."""
        if self._poll_client is None:
            limits = httpx.Limits(
                max_connections=self.settings.poll_concurrency,
                max_keepalive_connections=self.settings.poll_concurrency,
            )
            self._poll_client = httpx.AsyncClient(
                transport=AiohttpTransport(limits=limits), follow_redirects=False
            )
        return self._poll_client

    @property
    def delivery_client(self) -> httpx.AsyncClient:
        if self._delivery_client is None:
            self._delivery_client = httpx.AsyncClient(
                transport=AiohttpTransport(), follow_redirects=False
            )
        return self._delivery_client


_runtime: tuple[int, Runtime] | None = None


def runtime() -> Runtime:
    """This process's runtime, made on first use after a fork."""
    global _runtime
    pid = os.getpid()
    if _runtime is None or _runtime[0] != pid:
        settings = get_settings()
        _runtime = (pid, Runtime(settings=settings, store=open_store(settings)))
    return _runtime[1]
