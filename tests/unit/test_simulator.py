"""The simulated provider's batch book: timelines and moves, on a fake clock."""

from __future__ import annotations

import pytest

from worker.errors import Conflict, NotFound
from worker.simulator import BatchBook

START_S = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now_s = START_S

    def __call__(self) -> float:
        return self.now_s


def test_a_batch_walks_its_steps_from_its_first_retrieve_then_stays() -> None:
    clock = Clock()
    book = BatchBook((("validating", 0.0), ("in_progress", 2.0)), clock)
    assert book.get("batch_abc123")["status"] == "validating"

    clock.now_s += 2
    batch = book.get("batch_abc123")
    assert (batch["status"], batch["in_progress_at"]) == ("in_progress", START_S + 2)
    clock.now_s += 86_400
    assert book.get("batch_abc123")["status"] == "in_progress"


def test_a_cancel_is_cancelling_then_cancelled_a_second_later_and_then_final() -> None:
    clock = Clock()
    book = BatchBook(clock=clock)
    batch_id = book.create(b"{}")["id"]
    assert book.move(batch_id, "cancel")["status"] == "cancelling"

    clock.now_s += 1
    cancelled = book.get(batch_id)
    assert cancelled["status"] == "cancelled"
    assert (cancelled["cancelling_at"], cancelled["cancelled_at"]) == (START_S, START_S + 1)
    with pytest.raises(Conflict):
        book.move(batch_id, "complete")


def test_a_move_ends_the_timeline_and_completing_gives_the_output_file() -> None:
    clock = Clock()
    book = BatchBook((("validating", 0.0), ("in_progress", 1.0), ("completed", 4.0)), clock)
    book.get("batch_a")
    book.get("batch_b")
    clock.now_s += 0.5
    assert book.move("batch_a", "fail")["errors"]["data"]
    completed = book.move("batch_b", "complete")

    clock.now_s += 10
    assert book.get("batch_a")["status"] == "failed"
    assert book.get("batch_a")["in_progress_at"] is None
    assert completed["output_file_id"].startswith("file-sim-output-")
    assert completed["request_counts"] == {"total": 100, "completed": 100, "failed": 0}
    with pytest.raises(NotFound):
        book.move("batch_never_seen", "expire")


def test_the_list_pages_newest_first_after_the_last_id() -> None:
    clock = Clock()
    book = BatchBook(clock=clock)
    ids = [book.create(b"{}")["id"] for _ in range(5)]

    first = book.list_page(2, None)
    assert [b["id"] for b in first["data"]] == [ids[4], ids[3]]
    assert (first["first_id"], first["last_id"], first["has_more"]) == (ids[4], ids[3], True)
    last = book.list_page(2, book.list_page(2, first["last_id"])["last_id"])
    assert ([b["id"] for b in last["data"]], last["has_more"]) == ([ids[0]], False)


def test_steps_must_start_at_zero_and_run_in_time_order() -> None:
    with pytest.raises(ValueError, match="steps"):
        BatchBook((("in_progress", 1.0),))
    with pytest.raises(ValueError, match="steps"):
        BatchBook((("validating", 0.0), ("completed", 4.0), ("in_progress", 1.0)))
