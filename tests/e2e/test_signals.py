"""batch.progress, batch.expiring, batch.stalled and batch.resumed, end to end: a stand-in
provider whose counts and times the test sets, the real stack, a verifying receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.flows import connect, new_batch_id, subscribe, watch
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Received, Receiver
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

STALL_S = 3  # both stall thresholds, so a stall shows within a test


@pytest.fixture(scope="module")
def signals_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with RedisServer() as server:
        stack = Stack(
            server.url,
            tmp_path_factory.mktemp("signals-stack"),
            BATCHHOOK_STALL_VALIDATING_S=str(STALL_S),
            BATCHHOOK_STALL_RUNNING_S=str(STALL_S),
        )
        try:
            yield stack.start()
        finally:
            stack.stop()


@pytest.fixture
def api(signals_stack: Stack) -> Iterator[httpx.Client]:
    with signals_stack.client() as client:
        yield client


def counts(done: int, total: int = 100) -> dict[str, int]:
    return {"total": total, "completed": done, "failed": 0}


def of_type(receiver: Receiver, event_type: str) -> list[Received]:
    return [r for r in receiver.received if r.json and r.json["type"] == event_type]


def polls_after(stub: ProviderStub, batch_id: str, more: int, timeout_s: float = 20) -> None:
    """Wait until the stand-in has answered ``more`` further polls of the batch."""
    target = len(stub.requests_for(batch_id)) + more
    wait_until(lambda: len(stub.requests_for(batch_id)) >= target, timeout_s=timeout_s)


def test_progress_once_per_step_with_the_eta_and_none_after_the_end(
    api: httpx.Client, receiver: Receiver
) -> None:
    subscribe(api, receiver, events=["batch.progress", "batch.completed"], progress_step=25)
    with ProviderStub("openai", api_key="sk-progress") as stub:
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress", request_counts=counts(10))
        watch(api, batch_id, conn["id"])
        polls_after(stub, batch_id, 2)

        stub.set_batch(batch_id, "in_progress", request_counts=counts(30))
        [first] = receiver.wait_for(predicate=lambda r: r.json["type"] == "batch.progress")
        polls_after(stub, batch_id, 3)  # 30 % seen again: no second event for 25 %
        stub.set_batch(batch_id, "in_progress", request_counts=counts(80))
        receiver.wait_for(2, predicate=lambda r: r.json["type"] == "batch.progress")
        stub.set_batch(batch_id, "completed", request_counts=counts(100))
        receiver.wait_for(predicate=lambda r: r.json["type"] == "batch.completed")
        polled = len(stub.requests_for(batch_id))

        events = api.get("/v1/events", params={"batch_id": batch_id}).json()["data"]

    progress = of_type(receiver, "batch.progress")
    assert [p.json["data"]["progress_step"] for p in progress] == [25, 75]
    assert all(p.verified and p.verify_error is None for p in receiver.received)
    data = first.json["data"]
    assert data["progress"] == {"completed": 30, "failed": 0, "total": 100, "percent": 30.0}
    rate, eta = data["request_rate_per_s"], data["estimated_completion_at"]
    assert rate > 0
    observed_at = first.json["created_at"]  # the poll's second
    assert observed_at <= eta - 70 / rate <= observed_at + 1  # 70 left at that rate
    terminal = next(e for e in events if e["type"] == "batch.completed")
    assert all(e["created_at"] <= terminal["created_at"] for e in events)
    assert len(stub.requests_for(batch_id)) == polled  # no poll, so no event, after the end
    assert terminal["type"] == "batch.completed"
    completed = of_type(receiver, "batch.completed")[0].json["data"]
    assert completed["succeeded_share"] == 1.0
    assert completed["duration_s"] > 0


def test_expiring_once_within_the_lead_time_with_the_projected_shortfall(
    api: httpx.Client, receiver: Receiver
) -> None:
    subscribe(api, receiver, events=["batch.expiring"], expiring_lead_time=60)
    with ProviderStub("openai", api_key="sk-expiring") as stub:
        conn = connect(api, stub)
        batch_id = new_batch_id()
        expires_at = int(time.time()) + 64  # the warning is due in about 4 s
        stub.set_batch(batch_id, "in_progress", request_counts=counts(1), expires_at=expires_at)
        watch(api, batch_id, conn["id"], poll_interval=None)  # the adaptive schedule
        registered = time.time()

        [warning] = receiver.wait_for(timeout_s=20)
        stub.set_batch(batch_id, "in_progress", request_counts=counts(2), expires_at=expires_at)
        polls_after(stub, batch_id, 1, timeout_s=40)  # adaptive: at least 15 s away
        batch = api.get(f"/v1/batches/{batch_id}").json()

    assert warning.received_at - registered < 12  # the schedule woke for it (floor 15 s)
    assert len(of_type(receiver, "batch.expiring")) == 1
    data = warning.json["data"]
    assert data["expires_at"] == expires_at
    assert data["lead_time_s"] == 60
    assert data["projected_shortfall_s"] == pytest.approx(
        data["estimated_completion_at"] - expires_at, abs=0.01
    )
    assert data["projected_shortfall_s"] > 0  # 1 % done after a few seconds: far too slow
    assert batch["expires_at"] == expires_at
    assert batch["progress"]["percent"] == 2.0
    assert batch["estimated_completion_at"] > batch["expires_at"]


def test_a_stall_is_sent_once_and_resumed_when_counts_move_again(
    api: httpx.Client, receiver: Receiver
) -> None:
    subscribe(api, receiver, events=["batch.stalled", "batch.resumed"])
    with ProviderStub("openai", api_key="sk-stall") as stub:
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress", request_counts=counts(40))
        watch(api, batch_id, conn["id"])

        [stalled] = receiver.wait_for(timeout_s=20)
        polls_after(stub, batch_id, 3)
        during = api.get(f"/v1/batches/{batch_id}").json()
        stub.set_batch(batch_id, "in_progress", request_counts=counts(41))
        receiver.wait_for(2)
        after = api.get(f"/v1/batches/{batch_id}").json()  # before it stalls again, at 41
        types = [r.json["type"] for r in receiver.received]

    assert types == ["batch.stalled", "batch.resumed"]
    assert stalled.json["data"]["stalled_for_s"] >= STALL_S
    assert during["stall"] is not None and during["stall"]["for_s"] >= STALL_S
    resumed = of_type(receiver, "batch.resumed")[0].json["data"]
    assert resumed["stalled_since"] == during["stall"]["since"]
    assert after["stall"] is None
    assert all(r.verified for r in receiver.received)


def test_endpoint_options_are_shown_changed_and_checked(api: httpx.Client) -> None:
    created = api.post(
        "/v1/endpoints",
        json={"url": "https://example.com/hooks", "events": ["batch.progress"], "progress_step": 5},
    ).json()
    assert created["progress_step"] == 5
    assert created["expiring_lead_time"] == 3600
    assert created["result_links_ttl"] == 86400
    assert created["include_results_summary"] is False

    patched = api.patch(f"/v1/endpoints/{created['id']}", json={"expiring_lead_time": 7200})
    assert patched.status_code == 200, patched.text
    assert patched.json()["expiring_lead_time"] == 7200
    assert patched.json()["progress_step"] == 5

    for bad in ({"progress_step": 0}, {"progress_step": 101}, {"expiring_lead_time": 1}):
        refused = api.patch(f"/v1/endpoints/{created['id']}", json=bad)
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["type"] == "invalid_request_error"
    shown: dict[str, Any] = api.get(f"/v1/endpoints/{created['id']}").json()
    assert (shown["progress_step"], shown["expiring_lead_time"]) == (5, 7200)
