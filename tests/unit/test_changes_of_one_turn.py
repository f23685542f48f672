"""Status changes read in one turn of the event loop are recorded together, in the next."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.unit.test_transitions import a_watch
from worker.errors import ProviderRejected
from worker.models import Watch
from worker.poller import ChangesOfOneTurn, Result

Read = list[tuple[Watch, Result]]


def a_change(i: int) -> tuple[Watch, Result]:
    watch = replace(a_watch(), id=f"w_{i}", batch_id=f"batch_{i}")
    return watch, ProviderRejected("gone", batch_id=watch.batch_id)


def test_changes_read_in_one_turn_are_recorded_in_one_call_at_the_start_of_the_next() -> None:
    recorded: list[list[str]] = []

    async def run() -> list[list[str]]:
        changes = ChangesOfOneTurn(lambda read: recorded.append([w.id for w, _ in read]))
        for i in range(3):
            changes.add(*a_change(i))
        assert recorded == []  # nothing is recorded while this turn still reads answers
        await asyncio.sleep(0)
        seen_after_one_turn = list(recorded)
        changes.add(*a_change(3))
        await asyncio.sleep(0)
        changes.flush()
        return seen_after_one_turn

    assert asyncio.run(run()) == [["w_0", "w_1", "w_2"]]
    assert recorded == [["w_0", "w_1", "w_2"], ["w_3"]]


def test_flush_records_what_the_last_turn_read_once() -> None:
    recorded: list[list[str]] = []

    async def run() -> None:
        changes = ChangesOfOneTurn(lambda read: recorded.append([w.id for w, _ in read]))
        changes.add(*a_change(0))
        changes.flush()
        await asyncio.sleep(0)  # the turn's own call finds nothing left to record
        changes.flush()

    asyncio.run(run())
    assert recorded == [["w_0"]]


def test_a_failure_to_record_is_raised_by_flush_and_nothing_later_is_recorded() -> None:
    calls: list[list[str]] = []

    def record(read: Read) -> None:
        calls.append([w.id for w, _ in read])
        raise ConnectionError("redis is down")

    async def run() -> None:
        changes = ChangesOfOneTurn(record)
        changes.add(*a_change(0))
        await asyncio.sleep(0)
        changes.add(*a_change(1))
        with pytest.raises(ConnectionError, match="redis is down"):
            changes.flush()

    asyncio.run(run())
    assert calls == [["w_0"]]  # the chunk fails; w_1 stays leased and is polled again
