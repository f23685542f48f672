"""Bounded runs over items: results in order, or in batches as they finish (none waits
for the slowest), never more than the limit at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from worker.concurrency import finished_in_batches, map_bounded


async def after(delay_s: float, value: str, gate: asyncio.Event | None = None) -> str:
    if gate is not None:
        await gate.wait()
    await asyncio.sleep(delay_s)
    return value


def counting(limit_seen: list[int]) -> Callable[[str], Awaitable[str]]:
    """A coroutine function that notes the most calls ever running at once."""
    running = 0

    async def call(value: str) -> str:
        nonlocal running
        running += 1
        limit_seen[0] = max(limit_seen[0], running)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        running -= 1
        return value.upper()

    return call


def test_map_bounded_answers_in_the_items_order_never_more_than_the_limit_at_once() -> None:
    most = [0]
    values = [f"v{i}" for i in range(25)]

    results = asyncio.run(map_bounded(counting(most), values, 4))

    assert results == [v.upper() for v in values]
    assert most[0] == 4


def test_map_bounded_of_nothing_is_nothing_and_a_limit_below_one_is_refused() -> None:
    assert asyncio.run(map_bounded(counting([0]), [], 3)) == []
    with pytest.raises(ValueError, match="at least 1"):
        asyncio.run(map_bounded(counting([0]), ["a"], 0))


def test_map_bounded_raises_what_one_raised() -> None:
    async def upper_or_fail(value: str) -> str:
        if value == "bad":
            raise ValueError("boom")
        return value.upper()

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(map_bounded(upper_or_fail, ["a", "bad", "c"], 2))


def test_a_fast_result_is_taken_while_a_slow_one_is_still_running() -> None:
    async def run() -> list[list[str]]:
        gate = asyncio.Event()
        slow = {"slow": gate}
        batches = []
        async for batch in finished_in_batches(
            lambda v: after(0, v, slow.get(v)), ["fast", "slow"], 10
        ):
            batches.append(batch)
            gate.set()  # the slow one can only finish once the fast one was taken
        return batches

    assert asyncio.run(run()) == [["fast"], ["slow"]]


def test_results_finished_together_come_in_one_batch_and_none_is_lost() -> None:
    async def run() -> list[list[str]]:
        values = [str(i) for i in range(50)]
        return [b async for b in finished_in_batches(lambda v: after(0, v), values, 100)]

    batches = asyncio.run(run())

    assert len(batches) == 1
    assert sorted(batches[0], key=int) == [str(i) for i in range(50)]


def test_batches_never_run_more_than_the_limit_at_once_and_lose_nothing() -> None:
    most = [0]
    values = [f"v{i}" for i in range(30)]

    async def run() -> list[str]:
        return [r async for b in finished_in_batches(counting(most), values, 3) for r in b]

    assert sorted(asyncio.run(run())) == sorted(v.upper() for v in values)
    assert most[0] == 3


def test_an_error_is_raised_the_unfinished_cancelled_and_the_rest_never_started() -> None:
    started: list[str] = []
    slow = asyncio.Event()

    async def run_one(value: str) -> str:
        started.append(value)
        if value == "fails":
            raise ValueError("boom")
        try:
            await slow.wait()  # never set
        except asyncio.CancelledError:
            started.append(f"{value} cancelled")
            raise
        return value

    async def run() -> None:
        with pytest.raises(ValueError, match="boom"):
            async for _ in finished_in_batches(run_one, ["slow", "fails", "later"], 2):
                pass
        await asyncio.sleep(0)

    asyncio.run(run())
    assert started == ["slow", "fails", "slow cancelled"]


def test_nothing_to_run_yields_nothing() -> None:
    async def run() -> list[list[str]]:
        return [b async for b in finished_in_batches(lambda v: after(0, v), [], 5)]

    assert asyncio.run(run()) == []
