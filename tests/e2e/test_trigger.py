"""`batchhook trigger` sends samples shaped exactly like the events batchhook sends."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.flows import connect, new_batch_id, subscribe, watch
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver


def shape(value: Any) -> Any:
    """The keys of an event, at every depth, with the type of each leaf."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__


def received_of_type(receiver: Receiver, event_type: str) -> list[dict[str, Any]]:
    return [r.json for r in receiver.received if r.json["type"] == event_type]


def test_trigger_samples_have_the_shape_of_the_real_events(
    stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    endpoint = subscribe(api, receiver)
    with ProviderStub("openai", api_key="sk-trigger") as stub:
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "completed")
        watch(api, batch_id, conn["id"])
        receiver.wait_for(1)
    assert api.post(f"/v1/endpoints/{endpoint['id']}/test").status_code == 202
    receiver.wait_for(2)

    for event_type in ("batch.completed", "webhook.test"):
        sent = stack.cli(
            "trigger", event_type, "--url", receiver.url, "--secret", endpoint["secret"]
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
    receiver.wait_for(4)

    assert all(r.verified for r in receiver.received), [r.verify_error for r in receiver.received]
    real, sample = received_of_type(receiver, "batch.completed")
    assert shape(sample["data"]).keys() == shape(real["data"]).keys()
    assert sample["data"]["normalized_status"] == "completed"
    assert sample["data"]["output_file_id"]
    real_test, sample_test = received_of_type(receiver, "webhook.test")
    assert shape(sample_test) == shape(real_test)
    assert "output_file_id" not in sample_test["data"]
