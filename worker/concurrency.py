"""Run awaitables concurrently and take their results in batches, as they finish.

Whoever consumes the batches (recording webhook attempts in one Redis pipeline) gets
everything that finished since it last looked: one result at a time when work trickles
in, large batches under load, and no result waits for the slowest of the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def finished_in_batches(awaitables: Iterable[Awaitable[T]]) -> AsyncIterator[list[T]]:
    """Yield the results of the awaitables finished since the last yield, until all are.
    An exception in one is raised here, and the unfinished ones are cancelled."""
    finished: list[asyncio.Future[T]] = []
    woken = asyncio.Event()

    def on_done(future: asyncio.Future[T]) -> None:
        finished.append(future)
        woken.set()

    futures = [asyncio.ensure_future(a) for a in awaitables]
    for future in futures:
        future.add_done_callback(on_done)
    remaining = len(futures)
    try:
        while remaining:
            await woken.wait()
            woken.clear()
            batch = finished[:]
            del finished[:]
            remaining -= len(batch)
            yield [future.result() for future in batch]
    finally:
        for future in futures:
            future.cancel()
