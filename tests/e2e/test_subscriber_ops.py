"""Subscriber operations: attempt log, recover, circuit breaker, slow endpoints, failing
endpoints disabled with endpoint.disabled, and batches that cannot be polled."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

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

OPS_SETTINGS = {
    "BATCHHOOK_RETRY_SCHEDULE": "0.3",
    "BATCHHOOK_CIRCUIT_FAILURE_THRESHOLD": "3",
    "BATCHHOOK_CIRCUIT_COOLDOWN_S": "1",
    "BATCHHOOK_CIRCUIT_MAX_COOLDOWN_S": "2",
    "BATCHHOOK_NOT_FOUND_GRACE_S": "2",
}


@pytest.fixture(scope="module")
def ops_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A private stack with a short retry schedule, a quick circuit and a 2 s 404 grace."""
    with RedisServer() as server:
        private = Stack(server.url, tmp_path_factory.mktemp("ops-stack"), **OPS_SETTINGS)
        try:
            yield private.start()
        finally:
            private.stop()


@pytest.fixture
def ops(ops_stack: Stack) -> Iterator[httpx.Client]:
    with ops_stack.client() as client:
        yield client


def send_test(api: httpx.Client, endpoint_id: str) -> str:
    answer = api.post(f"/v1/endpoints/{endpoint_id}/test")
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def delivery_of(api: httpx.Client, event_id: str) -> dict[str, Any]:
    [delivery] = api.get(f"/v1/events/{event_id}").json()["deliveries"]
    return dict(delivery)


def test_attempts_record_status_latency_and_a_response_excerpt(
    ops: httpx.Client, receiver: Receiver
) -> None:
    receiver.respond_with(500)
    endpoint = subscribe(ops, receiver)
    event_id = send_test(ops, endpoint["id"])

    event = wait_for_delivery_state(ops, event_id, "succeeded")
    failed, ok = event["deliveries"][0]["attempts"]
    assert (failed["status_code"], failed["error"], failed["response"]) == (500, "HTTP 500", "ok")
    assert (ok["status_code"], ok["error"], ok["response"]) == (200, None, "ok")
    assert failed["latency_ms"] >= 0 and failed["at"] <= ok["at"]


def test_recover_resends_failed_deliveries_of_the_window_with_the_same_webhook_id(
    ops: httpx.Client, receiver: Receiver
) -> None:
    receiver.respond_with(500, 500, 500, 500)  # two attempts for each of two events
    endpoint = subscribe(ops, receiver)
    before = send_test(ops, endpoint["id"])
    wait_for_delivery_state(ops, before, "failed")
    since = math.ceil(time.time())
    wait_until(lambda: time.time() >= since)
    inside = send_test(ops, endpoint["id"])
    wait_for_delivery_state(ops, inside, "failed")

    answer = ops.post(f"/v1/endpoints/{endpoint['id']}/recover", json={"since": since})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["id"].startswith("rcv_") and job["status"] == "queued"

    wait_for_delivery_state(ops, inside, "succeeded")
    shown = ops.get(f"/v1/endpoints/{endpoint['id']}/recoveries/{job['id']}").json()
    assert (shown["status"], shown["redelivered"]) == ("completed", 1)
    assert delivery_of(ops, before)["state"] == "failed"
    resent = [h for h in receiver.received if h.headers["webhook-id"] == inside]
    assert len(resent) == 3 and resent[-1].verified
    assert [a["status_code"] for a in delivery_of(ops, inside)["attempts"]] == [500, 500, 200]


def test_recover_refuses_a_bad_window(ops: httpx.Client, receiver: Receiver) -> None:
    endpoint = subscribe(ops, receiver)
    path = f"/v1/endpoints/{endpoint['id']}/recover"
    now = int(time.time())
    assert ops.post(path, json={"since": now - 10, "until": now - 20}).status_code == 422
    assert ops.post(path, json={"since": now + 3600}).status_code == 422
    assert ops.post(path, json={"since": now - 365 * 86400}).status_code == 422
    assert ops.post("/v1/endpoints/ep_missing/recover", json={"since": now}).status_code == 404


def test_an_open_circuit_defers_deliveries_until_a_probe_succeeds(
    ops: httpx.Client, receiver: Receiver
) -> None:
    receiver.respond_with(500, 500, 500)  # the stack's circuit opens after 3 failures
    endpoint = subscribe(ops, receiver)
    first = send_test(ops, endpoint["id"])
    wait_for_delivery_state(ops, first, "failed")
    second = send_test(ops, endpoint["id"])
    health = wait_until(
        lambda: (
            (h := ops.get(f"/v1/endpoints/{endpoint['id']}").json()["health"])["circuit"] == "open"
            and h
        )
    )
    assert health["consecutive_failures"] == 3

    held = send_test(ops, endpoint["id"])
    deferred = wait_until(lambda: (d := delivery_of(ops, held))["deferred"] and d)
    assert deferred["deferred"] == "circuit open" and deferred["attempts"] == []

    wait_for_delivery_state(ops, held, "succeeded")
    wait_for_delivery_state(ops, second, "succeeded")
    [attempt] = delivery_of(ops, held)["attempts"]
    assert attempt["at"] >= health["circuit_open_until"] - 0.05  # never tried while open
    assert len(receiver.received) == 5  # 3 failures, the probe, the held delivery
    assert ops.get(f"/v1/endpoints/{endpoint['id']}").json()["health"]["circuit"] == "closed"


def test_an_endpoint_rate_limit_spreads_its_deliveries_over_the_seconds(
    ops: httpx.Client, receiver: Receiver
) -> None:
    endpoint = subscribe(ops, receiver, rate_limit=1)
    assert endpoint["rate_limit"] == 1
    for _ in range(4):
        send_test(ops, endpoint["id"])

    hooks = receiver.wait_for(4)
    arrivals = sorted(hook.at for hook in hooks)
    # One a second: four deliveries fall in four different seconds of the shared bucket.
    assert arrivals[-1] - arrivals[0] >= 1.9, arrivals
    assert all(hook.verified for hook in hooks)


def test_an_endpoint_rate_limit_is_changed_and_cleared_with_patch(ops: httpx.Client) -> None:
    created = ops.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/hook"}).json()
    path = f"/v1/endpoints/{created['id']}"
    assert created["rate_limit"] is None
    assert ops.patch(path, json={"rate_limit": 20}).json()["rate_limit"] == 20
    assert ops.patch(path, json={"description": "x"}).json()["rate_limit"] == 20
    refused = ops.patch(path, json={"rate_limit": 0})
    assert refused.status_code == 422 and refused.json()["error"]["message"]
    assert ops.get(path).json()["rate_limit"] == 20
    assert ops.patch(path, json={"rate_limit": None}).json()["rate_limit"] is None


def test_an_endpoint_shows_its_last_hours_attempts_by_outcome_and_minute(
    ops: httpx.Client, receiver: Receiver
) -> None:
    receiver.respond_with(500)  # the first event fails once, then succeeds on its retry
    endpoint = subscribe(ops, receiver, rate_limit=5)
    path = f"/v1/endpoints/{endpoint['id']}"
    quiet = ops.get(path).json()["health"]
    assert quiet["attempts_1h"] == {"succeeded": 0, "failed": 0}
    assert (quiet["success_rate_1h"], quiet["throttle_per_s"]) == (None, 5)

    wait_for_delivery_state(ops, send_test(ops, endpoint["id"]), "succeeded")
    wait_for_delivery_state(ops, send_test(ops, endpoint["id"]), "succeeded")

    health = wait_until(
        lambda: (h := ops.get(path).json()["health"])["attempts_1h"]["succeeded"] == 2 and h
    )
    assert health["attempts_1h"] == {"succeeded": 2, "failed": 1}
    assert health["success_rate_1h"] == pytest.approx(2 / 3, abs=1e-3)
    assert health["circuit"] == "closed"  # the health the endpoint had before is all there
    answer = ops.get(f"{path}/activity")
    assert answer.status_code == 200, answer.text
    activity = answer.json()
    assert (activity["object"], activity["has_more"]) == ("list", False)
    minutes = activity["data"]
    starts = [m["minute_at"] for m in minutes]
    assert len(minutes) == 60 and starts == list(range(starts[0], starts[-1] + 1, 60))
    assert starts[-1] <= time.time() < starts[-1] + 120  # ending with the current minute
    assert sum(m["succeeded"] for m in minutes) == 2
    assert sum(m["failed"] for m in minutes) == 1
    assert len(ops.get(f"{path}/activity", params={"minutes": 180}).json()["data"]) == 180
    assert len(ops.get(f"{path}/activity", params={"minutes": 1}).json()["data"]) == 1


def test_an_endpoint_without_a_rate_limit_shows_no_throttle(ops: httpx.Client) -> None:
    created = ops.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/hook"}).json()
    assert ops.get(f"/v1/endpoints/{created['id']}").json()["health"]["throttle_per_s"] is None


@pytest.mark.parametrize("minutes", [0, 181, "ten"])
def test_an_activity_window_outside_1_to_180_minutes_is_422(
    ops: httpx.Client, minutes: object
) -> None:
    created = ops.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/hook"}).json()
    answer = ops.get(f"/v1/endpoints/{created['id']}/activity", params={"minutes": minutes})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and "minutes" in error["message"]


def test_the_activity_of_an_endpoint_not_the_callers_is_404(
    ops_stack: Stack, ops: httpx.Client
) -> None:
    with ops_stack.client() as other:
        theirs = other.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/hook"}).json()
    for endpoint_id in (theirs["id"], "ep_missing"):
        answer = ops.get(f"/v1/endpoints/{endpoint_id}/activity")
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["type"] == "not_found"


def test_a_hanging_endpoint_does_not_hold_up_a_healthy_one(
    ops: httpx.Client, receiver: Receiver
) -> None:
    with Receiver() as healthy, ProviderStub("openai", api_key="sk-hang") as stub:
        receiver.hang_next(5.0)  # the stack's delivery timeout is 2 s
        hanging = subscribe(ops, receiver)
        subscribe(ops, healthy)
        conn = connect(ops, stub)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "completed")
        watch(ops, batch_id, conn["id"])

        [hook] = healthy.wait_for(1)
        assert hook.verified and hook.json["type"] == "batch.completed"
        [event] = events_of(ops, batch_id)
        slow = next(d for d in event["deliveries"] if d["endpoint_id"] == hanging["id"])
        assert slow["attempts"] == [], "the healthy webhook waited for the hanging one"
        receiver.wait_for(1)

        done = wait_for_delivery_state(ops, event["id"], "succeeded")
        slow = next(d for d in done["deliveries"] if d["endpoint_id"] == hanging["id"])
        assert slow["attempts"][0]["error"] == "timeout"


def test_a_404_batch_is_retried_within_the_grace_and_then_watched_normally(
    ops: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-late") as stub:
        conn = connect(ops, stub)
        subscribe(ops, receiver, events=["batch.watch_failed", "batch.completed"])
        batch_id = new_batch_id()  # not visible at the provider yet: it answers 404
        watch(ops, batch_id, conn["id"])
        wait_until(lambda: len(stub.requests_for(batch_id)) >= 2)
        shown = ops.get(f"/v1/batches/{batch_id}").json()
        assert shown["watching"] is True and "404" in shown["last_error"]

        stub.set_batch(batch_id, "completed")
        [hook] = receiver.wait_for(1)
        assert hook.json["type"] == "batch.completed"
        assert [e["type"] for e in events_of(ops, batch_id)] == ["batch.completed"]


def test_a_batch_still_404_after_the_grace_sends_watch_failed(
    ops: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-never") as stub:
        conn = connect(ops, stub)
        subscribe(ops, receiver, events=["batch.watch_failed"])
        batch_id = new_batch_id()
        watch(ops, batch_id, conn["id"])

        [hook] = receiver.wait_for(1)
        assert hook.json["type"] == "batch.watch_failed"
        assert hook.json["data"]["error"]["status_code"] == 404
        assert len(stub.requests_for(batch_id)) >= 2, "a 404 failed the watch at once"
        assert ops.get(f"/v1/batches/{batch_id}").json()["watching"] is False


def test_a_revoked_key_sends_watch_failed_at_once(ops: httpx.Client, receiver: Receiver) -> None:
    with ProviderStub("openai", api_key="sk-right") as stub:
        conn = connect(ops, stub, api_key="sk-revoked")  # the stand-in answers 401
        subscribe(ops, receiver, events=["batch.watch_failed"])
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        watch(ops, batch_id, conn["id"])

        [hook] = receiver.wait_for(1)
        assert hook.json["type"] == "batch.watch_failed"
        assert hook.json["data"]["error"]["status_code"] == 401
        assert len(stub.requests_for(batch_id)) == 1


def test_an_endpoint_failing_too_long_is_disabled_and_others_are_told(tmp_path: Path) -> None:
    settings = {
        "BATCHHOOK_ENDPOINT_DISABLE_AFTER_S": "2",
        "BATCHHOOK_CIRCUIT_FAILURE_THRESHOLD": "0",
        "BATCHHOOK_RETRY_SCHEDULE": ",".join(["0.4"] * 12),
    }
    with (
        RedisServer() as server,
        Receiver() as failing,
        Receiver() as watcher,
        Receiver() as bystander,
    ):
        stack = Stack(server.url, tmp_path, **settings)
        try:
            stack.start()
            with stack.client() as api:
                failing.respond_with(*[500] * 20)
                dead = subscribe(api, failing)
                subscribe(api, watcher, events=["endpoint.disabled"])
                subscribe(api, bystander)
                send_test(api, dead["id"])

                [hook] = watcher.wait_for(1)
                assert hook.verified and hook.json["type"] == "endpoint.disabled"
                data = hook.json["data"]
                assert (data["endpoint_id"], data["url"]) == (dead["id"], failing.url)
                assert "failed" in data["reason"] and data["disabled_at"] > 0
                shown = api.get(f"/v1/endpoints/{dead['id']}").json()
                assert shown["disabled"] is True
                assert bystander.received == []

                # The test event still has retries left: once enabled, the next one is
                # really sent, and must not fail between the enable and the check.
                failing.answer_ok_from_now()
                enabled = api.patch(f"/v1/endpoints/{dead['id']}", json={"disabled": False})
                assert enabled.status_code == 200 and enabled.json()["disabled"] is False
                health = api.get(f"/v1/endpoints/{dead['id']}").json()["health"]
                assert (health["failing_since"], health["consecutive_failures"]) == (None, 0)
        finally:
            stack.stop()
