"""After every successful API write, wake beat (``Store.wake_beat``).

Between reads of the schedules beat waits on Redis until the soonest due time it knows
of (``worker.beat``). A write through the API can make something due sooner than that: a
registration's first poll, a test event's delivery, a redelivery, a new connection's
listing. A pure ASGI middleware: the wake goes out once the answer is sent, so it adds
nothing to the answer's latency; a Redis that cannot take it is left to beat, which then
fails to read and sends ticks anyway.
"""

from __future__ import annotations

import contextlib

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.api.durability import WRITE_METHODS
from worker.errors import StoreUnavailable
from worker.store import Store


class WakeBeat:
    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        status = 0

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_noting_status)
        if 200 <= status < 300:
            with contextlib.suppress(StoreUnavailable):
                await run_in_threadpool(self.store.wake_beat)
