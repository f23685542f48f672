"""``webhooks.verify``: genuine webhooks become typed events, anything else is refused."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from batchhook_client import BatchhookError, webhooks
from batchhook_client.errors import WebhookVerificationError

from worker.samples import sample_event
from worker.signing import new_secret, webhook_headers

SECRET = new_secret()


def signed(
    event_type: str, secret: str = SECRET, at: float | None = None
) -> tuple[bytes, dict[str, str]]:
    event = sample_event(event_type)
    body = event.body.encode()
    return body, webhook_headers([secret], event.id, int(at or time.time()), body)


def test_a_genuine_batch_completed_is_typed_with_its_data() -> None:
    body, headers = signed("batch.completed")

    event = webhooks.verify(body, headers, SECRET)

    assert isinstance(event, webhooks.BatchCompleted)
    assert isinstance(event, webhooks.BatchTerminalEvent)
    sent = json.loads(body)
    assert (event.id, event.type, event.created_at) == (
        sent["id"],
        "batch.completed",
        sent["created_at"],
    )
    assert event.id == headers["webhook-id"]
    data = event.data
    assert (data.id, data.status, data.previous_status) == (
        "batch_sample",
        "completed",
        "finalizing",
    )
    assert data.output_file_id == sent["data"]["output_file_id"]
    assert data.output_url == sent["data"]["output_url"]
    assert data.request_counts is not None and data.request_counts.total == 100
    assert data.succeeded_share == 1.0 and data.batch["id"] == "batch_sample"
    assert data.raw == sent["data"] and event.raw == sent


def test_headers_match_whatever_their_case_and_the_body_may_be_text() -> None:
    body, headers = signed("batch.failed")
    shouting = {name.upper(): value for name, value in headers.items()}

    event = webhooks.verify(body.decode(), shouting, SECRET)

    assert isinstance(event, webhooks.BatchFailed)


def test_a_rotated_out_secret_still_verifies_during_its_grace() -> None:
    old, new = new_secret(), new_secret()
    event = sample_event("batch.expired")
    body = event.body.encode()
    headers = webhook_headers([new, old], event.id, int(time.time()), body)

    assert webhooks.verify(body, headers, old).type == "batch.expired"
    assert webhooks.verify(body, headers, new).type == "batch.expired"


BAD: dict[str, Any] = {
    "another secret": lambda b, h: (b, h, new_secret()),
    "a changed body": lambda b, h: (b.replace(b"batch_sample", b"batch_other"), h, SECRET),
    "no signature": lambda b, h: (
        b,
        {k: v for k, v in h.items() if k != "webhook-signature"},
        SECRET,
    ),
    "a garbled signature": lambda b, h: (b, {**h, "webhook-signature": "v1,!!!"}, SECRET),
    "a changed id": lambda b, h: (b, {**h, "webhook-id": "evt_other"}, SECRET),
    "a bad timestamp": lambda b, h: (b, {**h, "webhook-timestamp": "soon"}, SECRET),
    "a bad secret": lambda b, h: (b, h, "not-a-secret!"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_anything_not_genuine_is_refused(case: str) -> None:
    body, headers, secret = BAD[case](*signed("batch.completed"))

    with pytest.raises(WebhookVerificationError):
        webhooks.verify(body, headers, secret)


def test_an_old_timestamp_is_refused_unless_the_tolerance_allows_it() -> None:
    body, headers = signed("batch.completed", at=time.time() - 600)

    with pytest.raises(WebhookVerificationError, match="timestamp"):
        webhooks.verify(body, headers, SECRET)
    assert webhooks.verify(body, headers, SECRET, tolerance=900).type == "batch.completed"
    assert webhooks.verify(body, headers, SECRET, tolerance=None).type == "batch.completed"
    with pytest.raises(BatchhookError):  # the one root of every error
        webhooks.verify(body, headers, SECRET, tolerance=60)


def test_an_unknown_future_type_verifies_as_a_generic_event() -> None:
    body = json.dumps(
        {"id": "evt_1", "object": "event", "type": "batch.teleported", "created_at": 1,
         "data": {"id": "batch_1", "where": "mars"}}
    ).encode()  # fmt: skip
    headers = webhook_headers([SECRET], "evt_1", int(time.time()), body)

    event = webhooks.verify(body, headers, SECRET)

    assert type(event) is webhooks.UnknownEvent
    assert (event.type, event.data.id, event.data.raw["where"]) == (
        "batch.teleported",
        "batch_1",
        "mars",
    )


def test_unknown_fields_are_kept_on_raw() -> None:
    sample = json.loads(sample_event("batch.progress").body)
    sample["data"]["new_field"] = {"from": "a newer server"}

    event = webhooks.parse_event(sample)

    assert isinstance(event, webhooks.BatchProgress)
    assert event.data.progress is not None and event.data.progress.percent == 50.0
    assert event.data.progress_step == 50
    assert event.data.raw["new_field"] == {"from": "a newer server"}
