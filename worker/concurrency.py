"""Run a coroutine function over items, at most ``limit`` at once: a map whose results
come in the items' order, or results taken in batches as they finish.

Whoever consumes the batches (recording webhook attempts in one Redis pipeline) gets
everything that finished since it last looked: one result at a time when work trickles
in, large batches under load, and no result waits for the slowest of the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")


def _runners(limit: int, items: int) -> int:
    """How many runner tasks ``items`` need at ``limit`` at once (a limit below 1 is refused)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    return min(limit, items)


async def map_bounded(fn: Callable[[T], Awaitable[R]], items: Sequence[T], limit: int) -> list[R]:
    """``fn`` of each item, at most ``limit`` running at once, started in the items' order;
    the results in that order. An exception in one is raised here (the others go on).

    ``limit`` runners each take the next item when they finish one: what a semaphore
    over one task per item does, without the task and the wait per item (7 against
    1.6 us an item here, at 500 items and 100 at once)."""
    results: list[R | None] = [None] * len(items)
    next_index = iter(range(len(items)))

    async def runner() -> None:
        for index in next_index:
            results[index] = await fn(items[index])

    await asyncio.gather(*(runner() for _ in range(_runners(limit, len(items)))))
    return cast(list[R], results)


async def finished_in_batches(
    fn: Callable[[T], Awaitable[R]], items: Sequence[T], limit: int
) -> AsyncIterator[list[R]]:
    """Yield the results of ``fn`` of each item finished since the last yield, until all
    are, at most ``limit`` running at once, started in the items' order by that many
    runner tasks (as in ``map_bounded``). An exception in one is raised here, and the
    unfinished ones are cancelled (an item not yet started never is)."""
    finished: list[R] = []
    woken = asyncio.Event()
    pending = iter(items)

    async def runner() -> None:
        for item in pending:
            finished.append(await fn(item))
            woken.set()

    runners = [asyncio.ensure_future(runner()) for _ in range(_runners(limit, len(items)))]
    running = len(runners)
    failed: list[asyncio.Task[None]] = []

    def on_runner_done(task: asyncio.Task[None]) -> None:
        nonlocal running
        running -= 1
        if task.cancelled() or task.exception() is not None:
            failed.append(task)
        woken.set()

    for task in runners:
        task.add_done_callback(on_runner_done)
    try:
        while finished or running:
            await woken.wait()
            woken.clear()
            if failed:
                failed[0].result()  # raises what the runner's awaitable raised
            if finished:
                batch = finished[:]
                del finished[:]
                yield batch
    finally:
        for task in runners:
            task.cancel()
