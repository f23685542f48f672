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

from worker.delivery import WebhookSender
from worker.destinations import provider_client
from worker.http1 import Http1Client
from worker.settings import Settings, get_settings
from worker.store import Store, open_store

T = TypeVar("T")


def new_loop() -> asyncio.AbstractEventLoop:
    """The worker's event loop: uvloop's where it is installed (not on Windows), whose
    callbacks and socket I/O take less CPU per provider call and webhook than asyncio's
    own loop; asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:  # uvloop is a dependency wherever it builds
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


@dataclass
class Runtime:
    settings: Settings
    store: Store
    runner: asyncio.Runner = field(default_factory=lambda: asyncio.Runner(loop_factory=new_loop))
    _poll_client: Http1Client | None = None
    _sender: WebhookSender | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    @property
    def poll_client(self) -> Http1Client:
        """Provider calls: ``Http1Client`` (the poll path's CPU is mostly HTTP), pooled
        connections kept for a minute while idle, public addresses only unless private
        destinations are allowed. Made on first use, inside the event loop."""
        if self._poll_client is None or self._poll_client.closed:
            self._poll_client = provider_client(
                limit=self.settings.poll_concurrency,
                allow_private=self.settings.allow_private_destinations,
            )
        return self._poll_client

    def close(self) -> None:
        """Close the HTTP clients in the event loop they were made in, then the loop."""

        async def close_clients() -> None:
            if self._poll_client is not None:
                await self._poll_client.aclose()
            if self._sender is not None:
                await self._sender.aclose()

        self.run(close_clients())
        self.runner.close()

    @property
    def sender(self) -> WebhookSender:
        """Webhook POSTs: ``worker.http1`` (``destinations.guarded_client``), at most
        ``DELIVERY_CONCURRENCY`` in flight."""
        if self._sender is None:
            self._sender = WebhookSender(allow_private=self.settings.allow_private_destinations)
        return self._sender


_runtime: tuple[int, Runtime] | None = None


def runtime() -> Runtime:
    """This process's runtime, made on first use after a fork."""
    global _runtime
    pid = os.getpid()
    if _runtime is None or _runtime[0] != pid:
        _runtime = (pid, new_runtime())
    return _runtime[1]


def new_runtime() -> Runtime:
    """A runtime of its own, for a thread that runs tasks' work outside Celery's pool
    (beat inside a one-process worker): its loop and clients are that thread's."""
    settings = get_settings()
    store = open_store(settings)
    store.check_layout()  # a task fails with the reason rather than miss every watch
    return Runtime(settings=settings, store=store)
