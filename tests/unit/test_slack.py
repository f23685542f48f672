"""An endpoint with ``format: "slack"`` gets a Slack message a person can read."""

from __future__ import annotations

import json

import pytest

from worker import samples
from worker.models import EVENT_TYPES
from worker.slack import slack_body


def message_for(event_type: str) -> tuple[dict[str, object], str]:
    """The Slack message for the sample of ``event_type``, and all its text together."""
    message = json.loads(slack_body(samples.sample_event(event_type, now=1_700_000_000).body))
    return message, json.dumps(message["blocks"], ensure_ascii=False)


def test_a_completed_batch_shows_its_status_counts_duration_and_links() -> None:
    event = json.loads(samples.sample_event("batch.completed", now=1_700_000_000).body)
    event["data"].update(
        duration_s=3900, request_counts={"total": 1200, "completed": 1195, "failed": 5}
    )
    message = json.loads(slack_body(json.dumps(event)))
    text = json.dumps(message["blocks"], ensure_ascii=False)
    assert message["text"] == ":white_check_mark: Batch completed: batch_sample"
    assert "finalizing → completed" in text
    assert "1,195 completed, 5 failed of 1,200" in text
    assert "1 h 5 min" in text
    assert f"<{event['data']['output_url']}|Output file>" in text


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_has_a_headline_naming_what_it_is_about(event_type: str) -> None:
    message, _ = message_for(event_type)
    assert isinstance(message["text"], str)
    assert not message["text"].startswith("batchhook: ")  # its own headline, not the fallback
    data = samples.sample_data(event_type, 1_700_000_000)
    assert data["id"] in message["text"]
    assert all(block["type"] in ("section", "context") for block in message["blocks"])


def test_signals_and_failures_say_what_happened() -> None:
    assert "50%" in message_for("batch.progress")[1]
    assert "3 h" in message_for("batch.stalled")[1]
    assert "No batch found" in message_for("batch.watch_failed")[1]
    assert "every delivery failed" in message_for("endpoint.disabled")[1]


def test_slack_control_characters_in_values_are_escaped() -> None:
    event = json.loads(samples.sample_event("batch.watch_failed", now=1_700_000_000).body)
    event["data"]["error"]["message"] = "bad <@channel> & more"
    text = json.dumps(json.loads(slack_body(json.dumps(event)))["blocks"])
    assert "bad &lt;@channel&gt; &amp; more" in text
