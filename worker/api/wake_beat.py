"""After every successful API write, wake beat (``Store.wake_beat``).

Between reads of the schedules beat waits on Redis until the soonest due time it knows
of (``worker.beat``). A write through the API can make something due sooner than that: a
registration's first poll, a test event's delivery, a redelivery, a new connection's
listing. A pure ASGI middleware: the wake goes out once the answer is sent, so it adds
nothing to the answer's latency; a Redis that cannot take it is left to beat, which then
fails to read and sends ticks anyway. A route whose write carried the wake in its own
round trip says so with ``beat_woken(request)`` and is not woken for twice.
"""

from __future__ import annotations

import contextlib

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.api.durability import WRITE_METHODS
from worker.errors import StoreUnavailable
from worker.store import Store

WOKEN = "beat_woken"


def beat_woken(request: Request) -> None:
    """The route's write woke beat itself (``Store.register_watch(..., wake_beat=True)``)."""
    setattr(request.state, WOKEN, True)


class WakeBeat:
    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        status = 0
        # The request's state, shared with the route (Request.state) even if the scope is copied.
        state = scope.setdefault("state", {})

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_noting_status)
        if 200 <= status < 300 and not state.get(WOKEN):
            with contextlib.suppress(StoreUnavailable):
                await run_in_threadpool(self.store.wake_beat)
