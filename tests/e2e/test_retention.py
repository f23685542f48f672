"""Redis stays bounded: what finished is forgotten once the retention has passed."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.e2e.flows import connect, events_of, new_batch_id, subscribe, watch
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

RETENTION_S = 6


@pytest.fixture
def short_retention(own_stack: tuple[Stack, RedisServer]) -> Iterator[tuple[Stack, redis.Redis]]:
    """A private stack that forgets after ``RETENTION_S``, and a client on its Redis."""
    stack, redis_server = own_stack
    stack.env["BATCHHOOK_RETENTION_S"] = str(RETENTION_S)
    stack.start()
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield stack, client
    finally:
        client.close()


def keys_of(client: redis.Redis, *ids: str) -> list[str]:
    return [k for k in client.scan_iter("bh:*") if any(i in k for i in ids)]


def made_after(conn: dict[str, Any]) -> int:
    """A creation time after the connection's, once reached: a batch made then is news
    the first time discovery lists it."""
    made_at = math.ceil(conn["created_at"]) + 1
    wait_until(lambda: time.time() >= made_at, message="clock stuck")
    return made_at


def wait_for_listings(stub: ProviderStub, count: int = 5) -> None:
    listed = len(stub.list_requests)
    wait_until(lambda: len(stub.list_requests) >= listed + count, message="no more listings")


def test_finished_batches_events_and_attempts_expire_after_the_retention(
    short_retention: tuple[Stack, redis.Redis],
) -> None:
    stack, client = short_retention
    with (
        ProviderStub("openai", api_key="sk-retention") as stub,
        Receiver() as receiver,
        stack.client() as api,
    ):
        subscribe(api, receiver, events=["batch.completed", "batch.watch_failed"])
        conn = connect(api, stub)
        completed, unknown, running = new_batch_id(), new_batch_id(), new_batch_id()
        stub.set_batch(completed, "completed")
        stub.set_batch(running, "in_progress")  # ``unknown``: the provider answers 404
        for batch_id in (completed, unknown, running):
            watch(api, batch_id, conn["id"])

        hooks = receiver.wait_for(2, timeout_s=30)
        assert {h.json["type"] for h in hooks} == {"batch.completed", "batch.watch_failed"}
        finished = {b: [e["id"] for e in events_of(api, b)] for b in (completed, unknown)}
        watch_ids = [
            k.removeprefix("bh:watch:")
            for k in client.scan_iter("bh:watch:*")
            if k.count(":") == 2 and client.hget(k, "batch_id") in finished
        ]
        forgotten = [*watch_ids, *(e for ids in finished.values() for e in ids)]
        assert len(watch_ids) == 2 and len(forgotten) == 4
        assert keys_of(client, *forgotten)  # watch, history, events, deliveries, attempts

        wait_until(
            lambda: all(api.get(f"/v1/batches/{b}").status_code == 404 for b in finished),
            timeout_s=RETENTION_S + 20,
            message="finished batches were never forgotten",
        )
        for batch_id, event_ids in finished.items():
            assert events_of(api, batch_id) == []
            for event_id in event_ids:
                assert api.get(f"/v1/events/{event_id}").status_code == 404
        wait_until(lambda: keys_of(client, *forgotten) == [], timeout_s=5, message="keys left")
        wait_until(lambda: client.zcard("bh:finished") == 0, message="index never swept")
        indexed = [m for k in client.scan_iter("bh:tenant:*") if client.type(k) == "zset"
                   for m in client.zrange(k, 0, -1)]  # fmt: skip
        assert not set(indexed) & set(forgotten)
        assert client.zcard("bh:outbox") == 0

        still = api.get(f"/v1/batches/{running}")  # a batch still running is kept
        assert still.status_code == 200 and still.json()["watching"] is True


def test_a_listed_batch_is_not_watched_again_once_its_retention_ran_out(
    short_retention: tuple[Stack, redis.Redis],
) -> None:
    stack, _ = short_retention
    with (
        ProviderStub("openai", api_key="sk-relisted") as stub,
        Receiver() as receiver,
        stack.client() as api,
    ):
        subscribe(api, receiver, events=["batch.completed"])
        conn = connect(api, stub, watch_all=True)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "completed", created_at=made_after(conn))
        [hook] = receiver.wait_for(1, timeout_s=30)
        assert hook.json["data"]["id"] == batch_id

        wait_until(
            lambda: api.get(f"/v1/batches/{batch_id}").status_code == 404,
            timeout_s=RETENTION_S + 20,
            message="the finished batch was never forgotten",
        )
        wait_for_listings(stub)

        # Still listed by the provider, but its ending was sent already: not again.
        assert api.get(f"/v1/batches/{batch_id}").status_code == 404
        assert [h.json["id"] for h in receiver.received] == [hook.json["id"]]


def test_a_batch_stopped_by_hand_is_remembered_for_the_retention_then_forgotten(
    short_retention: tuple[Stack, redis.Redis],
) -> None:
    stack, client = short_retention
    with (
        ProviderStub("openai", api_key="sk-unwatched") as stub,
        Receiver() as receiver,
        stack.client() as api,
    ):
        subscribe(api, receiver, events=["batch.completed"])
        conn = connect(api, stub, watch_all=True)
        batch_id, made_at = new_batch_id(), made_after(conn)
        stub.set_batch(batch_id, "in_progress", created_at=made_at)
        wait_until(lambda: api.get(f"/v1/batches/{batch_id}").status_code == 200)
        assert api.delete(f"/v1/batches/{batch_id}").status_code == 200
        [remembered] = client.keys("bh:tenant:*:unwatched_at")
        stub.set_batch(batch_id, "completed", created_at=made_at)  # ends while unwatched

        wait_until(
            lambda: not client.exists(remembered),
            timeout_s=RETENTION_S + 10,
            message="the stopped batch was never forgotten",
        )
        wait_for_listings(stub)

        assert api.get(f"/v1/batches/{batch_id}").status_code == 404
        assert receiver.received == []  # stopped by hand: its ending is not sent
