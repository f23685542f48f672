"""Results taken in batches as they finish: none waits for the slowest."""

from __future__ import annotations

import asyncio

import pytest

from worker.concurrency import finished_in_batches


async def after(delay_s: float, value: str, gate: asyncio.Event | None = None) -> str:
    if gate is not None:
        await gate.wait()
    await asyncio.sleep(delay_s)
    return value


def test_a_fast_result_is_taken_while_a_slow_one_is_still_running() -> None:
    async def run() -> list[list[str]]:
        gate = asyncio.Event()
        batches = []
        async for batch in finished_in_batches([after(0, "fast"), after(0, "slow", gate)]):
            batches.append(batch)
            gate.set()  # the slow one can only finish once the fast one was taken
        return batches

    assert asyncio.run(run()) == [["fast"], ["slow"]]


def test_results_finished_together_come_in_one_batch_and_none_is_lost() -> None:
    async def run() -> list[list[str]]:
        values = [str(i) for i in range(50)]
        return [b async for b in finished_in_batches(after(0, v) for v in values)]

    batches = asyncio.run(run())

    assert len(batches) == 1
    assert sorted(batches[0], key=int) == [str(i) for i in range(50)]


def test_an_error_is_raised_and_the_unfinished_are_cancelled() -> None:
    async def fails() -> str:
        raise ValueError("boom")

    async def run() -> asyncio.Task[str]:
        slow = asyncio.ensure_future(after(60, "never"))
        with pytest.raises(ValueError, match="boom"):
            async for _ in finished_in_batches([fails(), slow]):
                pass
        await asyncio.sleep(0)
        return slow

    assert asyncio.run(run()).cancelled()


def test_nothing_to_run_yields_nothing() -> None:
    async def run() -> list[list[str]]:
        return [b async for b in finished_in_batches([])]

    assert asyncio.run(run()) == []
