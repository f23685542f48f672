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

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver
from httpx_aiohttp import AiohttpTransport

from worker.delivery import WebhookSender
from worker.destinations import guarded_session
from worker.settings import Settings, get_settings
from worker.store import Store, open_store

T = TypeVar("T")
KEEPALIVE_S = 5.0


def http_client(
    limits: httpx.Limits, *, allow_private: bool, resolver: AbstractResolver | None = None
) -> httpx.AsyncClient:
    """An httpx client on aiohttp (the fast path) that never follows redirects and, unless
    private destinations are allowed, connects only to public addresses
    (``guarded_session``)."""

    def session() -> aiohttp.ClientSession:  # made on first request, inside the loop
        return guarded_session(
            limit=limits.max_connections or 0,
            keepalive_s=limits.keepalive_expiry or KEEPALIVE_S,
            allow_private=allow_private,
            ssl_context=httpx.create_ssl_context(),
            resolver=resolver,
        )

    return httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits, client=session), follow_redirects=False
    )


@dataclass
class Runtime:
    settings: Settings
    store: Store
    runner: asyncio.Runner = field(default_factory=asyncio.Runner)
    _poll_client: httpx.AsyncClient | None = None
    _sender: WebhookSender | None = None

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
            self._poll_client = http_client(
                limits, allow_private=self.settings.allow_private_destinations
            )
        return self._poll_client

    @property
    def sender(self) -> WebhookSender:
        """Webhook POSTs: aiohttp directly, at most ``DELIVERY_CONCURRENCY`` in flight."""
        if self._sender is None:
            self._sender = WebhookSender(allow_private=self.settings.allow_private_destinations)
        return self._sender


_runtime: tuple[int, Runtime] | None = None


def runtime() -> Runtime:
    """This process's runtime, made on first use after a fork."""
    global _runtime
    pid = os.getpid()
    if _runtime is None or _runtime[0] != pid:
        settings = get_settings()
        _runtime = (pid, Runtime(settings=settings, store=open_store(settings)))
    return _runtime[1]
