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

from worker.destinations import PublicOnlyResolver, public_socket
from worker.settings import Settings, get_settings
from worker.store import Store, open_store

T = TypeVar("T")
DELIVERY_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def http_client(
    limits: httpx.Limits, *, allow_private: bool, resolver: AbstractResolver | None = None
) -> httpx.AsyncClient:
    """An httpx client on aiohttp (the fast path) that never follows redirects; unless
    private destinations are allowed, names resolve through ``PublicOnlyResolver``
    (``resolver`` is the name service under it: aiohttp's own by default) and every
    socket is opened by ``public_socket``, so only public addresses are connected to."""

    def session() -> aiohttp.ClientSession:  # made on first request, inside the loop
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=httpx.create_ssl_context(),
            resolver=resolver if allow_private else PublicOnlyResolver(resolver),
            socket_factory=None if allow_private else public_socket,
        )
        return aiohttp.ClientSession(connector=connector)

    return httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits, client=session), follow_redirects=False
    )


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
            self._poll_client = http_client(
                limits, allow_private=self.settings.allow_private_destinations
            )
        return self._poll_client

    @property
    def delivery_client(self) -> httpx.AsyncClient:
        if self._delivery_client is None:
            self._delivery_client = http_client(
                DELIVERY_LIMITS, allow_private=self.settings.allow_private_destinations
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
