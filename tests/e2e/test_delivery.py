"""Delivery guarantees: retries keep the webhook id, 410 disables, no redirects, timeouts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import standardwebhooks

from tests.e2e.flows import (
    connect,
    events_of,
    new_batch_id,
    subscribe,
    wait_for_delivery_state,
    watch,
)
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until


def finished_batch(api: httpx.Client, stub: ProviderStub) -> str:
    conn = connect(api, stub)
    batch_id = new_batch_id()
    stub.set_batch(batch_id, "completed")
    watch(api, batch_id, conn["id"])
    return batch_id


def only_event(api: httpx.Client, batch_id: str) -> dict[str, Any]:
    [event] = wait_until(lambda: events_of(api, batch_id))
    return dict(event)


def attempts_logged(stack: Stack, event_id: str) -> list[dict[str, Any]]:
    """The ``webhook_attempted`` lines the stack's processes wrote for an event."""
    return [
        line
        for text in stack.logs().splitlines()
        if "webhook_attempted" in text and event_id in text
        for line in [json.loads(text[text.index("{") :])]
        if line.get("event") == "webhook_attempted" and line.get("event_id") == event_id
    ]


def test_failed_attempts_are_retried_with_the_same_webhook_id(
    stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    receiver.respond_with(500, (503, {"retry-after": "1"}))
    with ProviderStub("openai", api_key="sk-retry") as stub:
        subscribe(api, receiver)
        batch_id = finished_batch(api, stub)

        hooks = receiver.wait_for(3)
        assert len({h.headers["webhook-id"] for h in hooks}) == 1
        assert all(h.verified for h in hooks)
        assert hooks[2].at - hooks[1].at >= 0.9, "Retry-After: 1 was not honoured"

        event = wait_for_delivery_state(api, only_event(api, batch_id)["id"], "succeeded")
        attempts = event["deliveries"][0]["attempts"]
        assert [a["status_code"] for a in attempts] == [500, 503, 200]
        assert all(a["latency_ms"] >= 0 and a["at"] > 0 for a in attempts)
        assert attempts[0]["error"] == "HTTP 500"
        # At the default level a failed attempt is logged, a successful one is not.
        logged = attempts_logged(stack, event["id"])
        outcomes = [(a["outcome"], a["status_code"]) for a in logged]
        assert outcomes == [("retry", 500), ("retry", 503)]


def test_at_debug_level_a_successful_attempt_is_logged_too(
    tmp_path: Path, receiver: Receiver
) -> None:
    with RedisServer() as server:
        debug = Stack(server.url, tmp_path, BATCHHOOK_LOG_LEVEL="debug")
        try:
            debug.start()
            with debug.client() as api, ProviderStub("openai", api_key="sk-debug") as stub:
                subscribe(api, receiver)
                batch_id = finished_batch(api, stub)
                event = wait_for_delivery_state(api, only_event(api, batch_id)["id"], "succeeded")
            [line] = attempts_logged(debug, event["id"])
        finally:
            debug.stop()

    assert (line["outcome"], line["status_code"], line["level"]) == ("succeeded", 200, "debug")


def test_after_the_last_attempt_the_delivery_stays_failed_and_can_be_redelivered(
    api: httpx.Client, receiver: Receiver
) -> None:
    receiver.respond_with(500, 500, 500, 500)  # the stack's schedule allows 4 attempts
    with ProviderStub("openai", api_key="sk-exhaust") as stub:
        subscribe(api, receiver)
        batch_id = finished_batch(api, stub)
        event_id = only_event(api, batch_id)["id"]

        failed = wait_for_delivery_state(api, event_id, "failed")
        assert len(failed["deliveries"][0]["attempts"]) == 4

        answer = api.post(f"/v1/events/{event_id}/redeliver", json={})
        assert answer.status_code == 202, answer.text
        wait_for_delivery_state(api, event_id, "succeeded")
        hooks = receiver.wait_for(5)
        assert {h.headers["webhook-id"] for h in hooks} == {event_id}


def test_410_gone_disables_the_endpoint(api: httpx.Client, receiver: Receiver) -> None:
    receiver.respond_with(410)
    with ProviderStub("openai", api_key="sk-gone") as stub:
        endpoint = subscribe(api, receiver)
        batch_id = finished_batch(api, stub)

        event = wait_for_delivery_state(api, only_event(api, batch_id)["id"], "failed")
        assert len(event["deliveries"][0]["attempts"]) == 1
        shown = api.get(f"/v1/endpoints/{endpoint['id']}").json()
        assert shown["disabled"] is True
        assert len(receiver.received) == 1


def test_redirects_are_not_followed(api: httpx.Client, receiver: Receiver) -> None:
    with ProviderStub("openai", api_key="sk-redirect") as stub, Receiver() as elsewhere:
        receiver.respond_with((307, {"location": elsewhere.url}))
        subscribe(api, receiver)
        batch_id = finished_batch(api, stub)

        event = wait_for_delivery_state(api, only_event(api, batch_id)["id"], "succeeded")
        first = event["deliveries"][0]["attempts"][0]
        assert first["status_code"] == 307
        assert elsewhere.received == []


def test_a_subscriber_that_hangs_times_out_and_is_retried(
    api: httpx.Client, receiver: Receiver
) -> None:
    receiver.hang_next(5.0)  # the stack's delivery timeout is 2 s
    with ProviderStub("openai", api_key="sk-slow") as stub:
        subscribe(api, receiver)
        batch_id = finished_batch(api, stub)

        event = wait_for_delivery_state(api, only_event(api, batch_id)["id"], "succeeded")
        attempts = event["deliveries"][0]["attempts"]
        assert attempts[0]["error"] == "timeout"
        assert attempts[0]["status_code"] is None
        assert attempts[-1]["status_code"] == 200


def test_rotated_secret_signs_alongside_the_old_one(api: httpx.Client, receiver: Receiver) -> None:
    endpoint = subscribe(api, receiver)
    old_secret = endpoint["secret"]
    rotated = api.post(f"/v1/endpoints/{endpoint['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != old_secret

    receiver.secret = new_secret
    assert api.post(f"/v1/endpoints/{endpoint['id']}/test").status_code == 202
    [hook] = receiver.wait_for(1)
    assert hook.verified
    assert hook.json["type"] == "webhook.test"
    assert len(hook.headers["webhook-signature"].split(" ")) == 2
    standardwebhooks.Webhook(old_secret).verify(hook.body, hook.headers)
    standardwebhooks.Webhook(new_secret).verify(hook.body, hook.headers)


def test_endpoint_test_event_is_signed_and_recorded(api: httpx.Client, receiver: Receiver) -> None:
    endpoint = subscribe(api, receiver, events=["batch.completed"])
    sent = api.post(f"/v1/endpoints/{endpoint['id']}/test")
    assert sent.status_code == 202
    event_id = sent.json()["id"]

    [hook] = receiver.wait_for(1)
    assert hook.verified
    assert hook.headers["webhook-id"] == event_id
    wait_for_delivery_state(api, event_id, "succeeded")
