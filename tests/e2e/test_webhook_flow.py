"""A batch registered through the API ends in one verified webhook per subscriber."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.flows import connect, events_of, new_batch_id, subscribe, watch
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

PROVIDER_SETUPS = {
    "openai": {},
    "openai_compatible": {},
    "keywordsai": {"params": {"customer_identifier": "user123"}},
    "respan": {"params": {"customer_identifier": "user123"}},
    "portkey": {
        "headers": {
            "x-portkey-provider": "openai",
            "x-portkey-trace-id": "trace-1",
            "x-portkey-virtual-key": "vk-portkey-routing",
        }
    },
}


@pytest.mark.parametrize("flavour", sorted(PROVIDER_SETUPS))
def test_each_provider_completes_with_one_verified_webhook(
    api: httpx.Client, receiver: Receiver, flavour: str
) -> None:
    setup = PROVIDER_SETUPS[flavour]
    with ProviderStub(flavour, api_key=f"sk-{flavour}-key", **setup) as stub:
        conn = connect(api, stub, **setup)
        subscribe(api, receiver)
        batch_id = new_batch_id()
        stub.script(batch_id, ["in_progress", "finalizing", "completed"])
        watch(api, batch_id, conn["id"], metadata={"job": "nightly"})

        [hook] = receiver.wait_for(1)
        assert hook.verified, hook.verify_error
        assert hook.unwrapped_type == "batch.completed"
        event = hook.json
        assert event["type"] == "batch.completed"
        assert event["object"] == "event"
        assert hook.headers["webhook-id"] == event["id"]
        data = event["data"]
        assert data["id"] == batch_id
        assert data["status"] == "completed"
        assert data["previous_status"] == "finalizing"
        assert data["output_file_id"] == f"file-out-{batch_id}"
        assert data["error_file_id"] is None or isinstance(data["error_file_id"], str)
        assert data["request_counts"]["total"] > 0
        assert data["provider"] == flavour
        assert data["connection_id"] == conn["id"]
        assert data["metadata"] == {"job": "nightly"}
        assert data["batch"]["id"] == batch_id
        assert stub.mismatches == []
        assert stub.requests_for(batch_id), "the provider stand-in was never called"


@pytest.mark.parametrize("status", ["completed", "failed", "expired", "cancelled"])
def test_every_terminal_status_sends_its_event_type(
    api: httpx.Client, receiver: Receiver, status: str
) -> None:
    with ProviderStub("openai", api_key="sk-terminal") as stub:
        conn = connect(api, stub)
        subscribe(api, receiver)
        batch_id = new_batch_id()
        stub.script(batch_id, ["in_progress", status])
        watch(api, batch_id, conn["id"])

        [hook] = receiver.wait_for(1)
        assert hook.verified, hook.verify_error
        assert hook.json["type"] == f"batch.{status}"
        assert hook.json["data"]["status"] == status
        assert hook.json["data"]["previous_status"] == "in_progress"


def test_registering_a_batch_that_already_ended_notifies_once_and_stops_polling(
    api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-late") as stub:
        conn = connect(api, stub)
        subscribe(api, receiver)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "completed")
        watch(api, batch_id, conn["id"])

        [hook] = receiver.wait_for(1)
        assert hook.verified
        assert hook.json["data"]["previous_status"] is None
        assert hook.json["data"]["status"] == "completed"

        shown = api.get(f"/v1/batches/{batch_id}").json()
        assert shown["status"] == "completed"
        assert shown["watching"] is False
        assert shown["next_poll_at"] is None
        assert [e["type"] for e in events_of(api, batch_id)] == ["batch.completed"]


def test_opt_in_event_types_report_progress_and_history_records_each_status(
    api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-progress") as stub:
        conn = connect(api, stub)
        subscribe(api, receiver, events=["batch.in_progress", "batch.completed"])
        batch_id = new_batch_id()
        stub.script(batch_id, ["validating", "in_progress", "finalizing", "completed"])
        watch(api, batch_id, conn["id"])

        hooks = receiver.wait_for(2)
        assert [h.json["type"] for h in hooks] == ["batch.in_progress", "batch.completed"]
        assert all(h.verified for h in hooks)

        shown = api.get(f"/v1/batches/{batch_id}").json()
        assert [h["status"] for h in shown["history"]] == [
            "validating",
            "in_progress",
            "finalizing",
            "completed",
        ]
        assert all(isinstance(h["at"], float | int) for h in shown["history"])
        assert [e["type"] for e in shown["events"]][::-1] == [
            "batch.validating",
            "batch.in_progress",
            "batch.finalizing",
            "batch.completed",
        ]


def test_only_the_chosen_endpoints_of_a_batch_are_notified(
    api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-choice") as stub, Receiver() as other:
        conn = connect(api, stub)
        chosen = subscribe(api, receiver)
        subscribe(api, other)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "completed")
        watch(api, batch_id, conn["id"], endpoint_ids=[chosen["id"]])

        receiver.wait_for(1)
        [event] = events_of(api, batch_id)
        assert [d["endpoint_id"] for d in event["deliveries"]] == [chosen["id"]]
        assert other.received == []


def test_an_unknown_batch_sends_watch_failed_and_stops(
    api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-unknown") as stub:
        conn = connect(api, stub)
        subscribe(api, receiver, events=["batch.watch_failed", "batch.completed"])
        batch_id = new_batch_id()  # never created at the stand-in: it answers 404
        watch(api, batch_id, conn["id"])

        [hook] = receiver.wait_for(1)
        assert hook.verified
        assert hook.json["type"] == "batch.watch_failed"
        assert "No such batch" in hook.json["data"]["error"]["message"]
        shown = wait_until(
            lambda: (b := api.get(f"/v1/batches/{batch_id}").json())["watching"] is False and b
        )
        assert "404" in shown["last_error"]


def test_provider_rate_limits_are_retried_without_an_event(
    api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-limited") as stub:
        conn = connect(api, stub)
        subscribe(api, receiver)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "completed")
        stub.fail_next(
            batch_id,
            429,
            {"error": {"message": "Rate limit reached", "type": "requests", "code": None}},
            headers={"retry-after-ms": "300"},
        )
        watch(api, batch_id, conn["id"])

        [hook] = receiver.wait_for(1)
        assert hook.json["type"] == "batch.completed"
        assert len(stub.requests_for(batch_id)) >= 2
        assert [e["type"] for e in events_of(api, batch_id)] == ["batch.completed"]
        assert json.loads(hook.body)["data"]["previous_status"] is None


def test_a_change_is_delivered_without_waiting_for_a_slow_batch_polled_beside_it(
    own_stack: tuple[Stack, RedisServer], receiver: Receiver
) -> None:
    stack, _ = own_stack
    stack.start_web()
    stack.start_worker()
    with ProviderStub("openai", api_key="sk-beside") as stub, stack.client() as api:
        conn = connect(api, stub)
        subscribe(api, receiver)
        slow, changed = new_batch_id(), new_batch_id()
        stub.set_batch(slow, "in_progress")
        stub.answer_slowly(slow, 3.0)
        stub.set_batch(changed, "completed")
        watch(api, slow, conn["id"])
        watch(api, changed, conn["id"])
        stack.start_beat()  # its first tick claims both: one chunk, polled together

        [hook] = receiver.wait_for(1)

        assert hook.json["data"]["id"] == changed
        [slow_retrieve] = stub.requests_for(slow)
        assert hook.received_at - slow_retrieve.received_at < 3.0, "waited for the slow answer"
