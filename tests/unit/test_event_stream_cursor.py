"""What one event-stream connection sends from each read of the index (pure)."""

from __future__ import annotations

import json

import pytest

from worker.api.stream import Cursor, frame, parse_types
from worker.errors import InputError
from worker.store.events import StoredEvent


def sends(cursor: Cursor, index: list[tuple[float, str]]) -> list[str]:
    """One poll: what the read from the cursor's floor finds, and what of it is sent."""
    read = [(score, eid) for score, eid in sorted(index) if score >= cursor.floor_s]
    unsent = cursor.unsent(read)
    cursor.mark(unsent)
    return [eid for _, eid in unsent]


def test_what_the_index_held_at_the_start_is_not_sent_and_what_comes_after_is() -> None:
    index = [(95.0, "evt_old")]
    cursor = Cursor(newest_s=100.0)
    cursor.mark(cursor.unsent(index))  # the start: no backlog

    index.append((101.0, "evt_new"))
    assert sends(cursor, index) == ["evt_new"]
    assert sends(cursor, index) == []


def test_an_event_written_late_behind_one_already_sent_is_still_sent_once() -> None:
    cursor = Cursor(newest_s=100.0)
    index = [(110.0, "evt_b")]
    assert sends(cursor, index) == ["evt_b"]

    index.append((104.0, "evt_a"))  # made earlier, written to the index later
    assert sends(cursor, index) == ["evt_a"]
    assert sends(cursor, index) == []


def test_an_event_written_later_than_the_lookback_behind_the_newest_is_not_sent() -> None:
    cursor = Cursor(newest_s=100.0, lookback_s=60.0)
    index = [(200.0, "evt_new")]
    assert sends(cursor, index) == ["evt_new"]

    index.append((130.0, "evt_very_late"))
    assert sends(cursor, index) == []


def test_ids_behind_the_window_are_forgotten() -> None:
    cursor = Cursor(newest_s=0.0, lookback_s=60.0)
    for second in range(0, 600, 10):
        sends(cursor, [(float(second), f"evt_{second:04}")])
    assert set(cursor.sent) == {f"evt_{s:04}" for s in range(530, 600, 10)}


def test_a_resumed_cursor_sends_everything_after_the_named_event_and_its_second() -> None:
    index = [(90.0, "evt_a"), (100.0, "evt_b"), (100.0, "evt_c"), (100.0, "evt_d")]
    index += [(150.0, "evt_e")]
    cursor = Cursor.resuming((100.0, "evt_c"))

    assert sends(cursor, index) == ["evt_b", "evt_d", "evt_e"]  # evt_b: its second, again
    index.append((151.0, "evt_f"))
    assert sends(cursor, index) == ["evt_f"]


def test_a_resume_from_long_ago_reads_back_to_it_then_only_the_window() -> None:
    cursor = Cursor.resuming((10.0, "evt_old"), lookback_s=60.0)
    assert cursor.floor_s == -50.0
    assert sends(cursor, [(10.0, "evt_old"), (5000.0, "evt_now")]) == ["evt_now"]
    assert cursor.floor_s == 4940.0


def test_types_are_checked_against_the_catalog() -> None:
    assert parse_types(None) is None
    assert parse_types("batch.completed, batch.failed,") == {"batch.completed", "batch.failed"}
    for bad in ("batch.nope", "batch.completed,nope", ",", ""):
        with pytest.raises(InputError):
            parse_types(bad)


def test_a_frame_keeps_the_body_on_one_data_line() -> None:
    body = json.dumps({"id": "evt_1", "data": {"note": "two\nlines"}}, indent=2)
    text = frame(StoredEvent(id="evt_1", type="webhook.test", created_at=1.0, body=body))

    assert text.endswith("\n\n")
    lines = text.removesuffix("\n\n").split("\n")
    assert lines[:2] == ["id: evt_1", "event: webhook.test"]
    assert len(lines) == 3 and json.loads(lines[2].removeprefix("data: ")) == json.loads(body)
