"""How a tick's claim of due polls is split into poll tasks: chunks of
BATCHHOOK_POLL_CHUNK_SIZE, and a surge spread over BATCHHOOK_POLL_SURGE_TASKS bigger ones."""

from __future__ import annotations

import pytest

from worker.tasks import SURGE_CHUNK_SIZE, chunks, poll_chunk_size


def split(claimed: int, chunk_size: int = 100, surge_tasks: int = 20) -> list[int]:
    """The sizes of the poll tasks a claim of ``claimed`` polls goes out in."""
    ids = [f"w_{i}" for i in range(claimed)]
    parts = chunks(ids, poll_chunk_size(claimed, chunk_size, surge_tasks))
    assert [i for part in parts for i in part] == ids  # each claimed poll in one task
    return [len(part) for part in parts]


@pytest.mark.parametrize("claimed", [101, 1_000, 2_000])
def test_a_steady_claim_goes_out_in_chunks_of_the_chunk_size(claimed: int) -> None:
    sizes = split(claimed)

    assert max(sizes) == 100
    assert len(sizes) == -(-claimed // 100)


def test_a_surge_is_spread_over_the_surge_tasks_in_bigger_chunks() -> None:
    assert split(5_000) == [250] * 20
    assert split(2_001) == [101] * 19 + [82]


def test_a_surge_chunk_holds_at_most_the_surge_chunk_size() -> None:
    sizes = split(20_000)

    assert sizes == [SURGE_CHUNK_SIZE] * (20_000 // SURGE_CHUNK_SIZE)


def test_a_chunk_size_set_above_the_surge_chunk_size_is_kept() -> None:
    assert split(50_000, chunk_size=1_000) == [1_000] * 50


def test_no_surge_tasks_keeps_the_chunk_size_for_every_claim() -> None:
    assert split(20_000, surge_tasks=0) == [100] * 200
