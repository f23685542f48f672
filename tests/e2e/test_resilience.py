"""Crashes and duplicates lose nothing and notify once: killed workers, two beats, Redis."""

from __future__ import annotations

import signal

import httpx

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


def test_a_worker_killed_during_a_delivery_still_delivers(
    own_stack: tuple[Stack, RedisServer],
) -> None:
    stack, _ = own_stack
    stack.env["BATCHHOOK_DELIVERY_TIMEOUT_S"] = "20"
    stack.start_web()
    first_worker = stack.start_worker("worker-1")
    stack.start_beat()
    with ProviderStub("openai", api_key="sk-kill") as stub, Receiver() as receiver:
        receiver.hang_next(15.0)  # the delivery is in flight when the worker dies
        with stack.client() as api:
            subscribe(api, receiver)
            conn = connect(api, stub)
            batch_id = new_batch_id()
            stub.set_batch(batch_id, "completed")
            watch(api, batch_id, conn["id"])

            [hung] = receiver.wait_for(1)
            first_worker.kill(signal.SIGKILL)
            stack.start_worker("worker-2")

            redelivered = receiver.wait_for(2, timeout_s=30)[1]
            assert redelivered.verified, redelivered.verify_error
            assert redelivered.headers["webhook-id"] == hung.headers["webhook-id"]
            assert redelivered.json["type"] == "batch.completed"
            [event] = events_of(api, batch_id)
            wait_for_delivery_state(api, event["id"], "succeeded")


def test_two_beats_and_two_workers_give_one_event_per_status_change(
    own_stack: tuple[Stack, RedisServer],
) -> None:
    stack, _ = own_stack
    stack.start_web()
    stack.start_worker("worker-1")
    stack.start_worker("worker-2")
    stack.start_beat("beat-1")
    stack.start_beat("beat-2")
    opt_in = ["batch.validating", "batch.in_progress", "batch.finalizing", "batch.completed"]
    statuses = ["validating", "in_progress", "finalizing", "completed"]
    with (
        ProviderStub("openai", api_key="sk-two-beats") as stub,
        Receiver() as receiver,
        stack.client() as api,
    ):
        subscribe(api, receiver, events=opt_in)
        conn = connect(api, stub)
        batch_ids = [new_batch_id() for _ in range(5)]
        for batch_id in batch_ids:
            stub.script(batch_id, statuses)
            watch(api, batch_id, conn["id"])

        receiver.wait_for(len(batch_ids) * len(statuses), timeout_s=60)
        for batch_id in batch_ids:
            events = events_of(api, batch_id)
            assert sorted(e["type"] for e in events) == sorted(opt_in)
            for event in events:
                wait_for_delivery_state(api, event["id"], "succeeded")
        ids = [r.headers["webhook-id"] for r in receiver.received]
        assert len(ids) == len(set(ids)), "a status change was delivered twice"
        assert all(r.verified for r in receiver.received)


def test_a_redis_restart_keeps_watches_and_polling_resumes(
    own_stack: tuple[Stack, RedisServer],
) -> None:
    stack, redis_server = own_stack
    stack.start()
    with (
        ProviderStub("openai", api_key="sk-redis-restart") as stub,
        Receiver() as receiver,
        stack.client() as api,
    ):
        subscribe(api, receiver)
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        watch(api, batch_id, conn["id"])
        wait_until(lambda: api.get(f"/v1/batches/{batch_id}").json()["status"])

        redis_server.restart()
        stub.set_batch(batch_id, "completed")

        [hook] = receiver.wait_for(1, timeout_s=60)
        assert hook.verified
        assert hook.json["data"]["previous_status"] == "in_progress"
        types = sorted(e["type"] for e in events_of(api, batch_id))
        assert types == ["batch.completed", "batch.in_progress"]


def test_with_redis_down_the_api_answers_503_and_the_cli_says_why(
    own_stack: tuple[Stack, RedisServer],
) -> None:
    stack, redis_server = own_stack
    stack.start_web()
    with stack.client() as api:
        assert api.get("/v1/endpoints").status_code == 200
        redis_server.stop()
        try:
            answers = [
                api.get("/v1/endpoints"),
                api.post("/v1/endpoints", json={"url": "https://example.com/hook"}),
                api.get("/v1/batches/batch_down"),
            ]
            ready = httpx.get(f"{stack.api_url}/readyz")
            status = stack.cli("status")
        finally:
            redis_server.start()

        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "5"
            error = answer.json()["error"]
            assert error["type"] == "service_unavailable"
            assert error["message"]
        assert ready.status_code == 503
        assert status.returncode != 0
        assert "cannot reach Redis" in status.stderr
        assert "Traceback" not in status.stderr
        wait_until(lambda: api.get("/v1/endpoints").status_code == 200)
