"""Event bodies are stored deflated; what is read back is the body as it was signed."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from worker.store.bodies import pack_body, unpack_body

BODY = json.dumps(
    {
        "id": "evt_0123456789abcdef01234567",
        "type": "batch.in_progress",
        "data": {"batch": {"id": "batch_1", "status": "in_progress", "errors": None} | {
            f"{name}_at": 1_700_000_000 for name in ("created", "in_progress", "expires")
        }},
    }
)  # fmt: skip


@given(st.text())
def test_any_body_reads_back_as_it_was_made(body: str) -> None:
    assert unpack_body(pack_body(body)) == body


def test_a_batch_event_is_stored_smaller_and_an_older_plain_one_reads_as_it_is() -> None:
    assert len(pack_body(BODY)) < len(BODY)
    assert unpack_body(BODY) == BODY  # events stored before packing
