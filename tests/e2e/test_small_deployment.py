"""The smallest deployment: the API and one worker process that also runs beat's tick
scheduler (``batchhook worker --concurrency 1 --beat``, or the same through
``BATCHHOOK_WORKER_CONCURRENCY=1`` and ``BATCHHOOK_WORKER_BEAT=1`` for a Procfile). It
must do what web + worker + beat do, in two processes, and stop cleanly."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e.flows import connect, events_of, new_batch_id, subscribe, watch
from tests.e2e.stack import Stack
from tests.support.processes import ManagedProcess
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from worker.beat import RECHECK_S
from worker.keys import TICK_QUEUE

WAYS = {
    "flags": ({}, ("--concurrency", "1", "--beat")),
    "environment": ({"BATCHHOOK_WORKER_CONCURRENCY": "1", "BATCHHOOK_WORKER_BEAT": "1"}, ()),
}


@pytest.fixture(params=list(WAYS))
def small(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Stack, ManagedProcess]]:
    env, flags = WAYS[request.param]
    with RedisServer() as server:
        stack = Stack(server.url, tmp_path, **env)
        try:
            stack.start_web()
            worker = stack.start_process("worker", "worker", *flags)
            worker.wait_for_log(r"ready\.", timeout_s=30)
            yield stack, worker
        finally:
            stack.stop()


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def wake_ups(pid: int) -> int:
    """How often the process's main thread has gone to sleep and woken (Linux)."""
    status = Path(f"/proc/{pid}/task/{pid}/status").read_text()
    [line] = [line for line in status.splitlines() if line.startswith("voluntary_ctxt_switches")]
    return int(line.split()[1])


IDLE_WINDOW_S = 10.0


def settled(pid: int) -> bool:
    """Whether the start-up's work is done: at most two wake-ups in three seconds."""
    before = wake_ups(pid)
    time.sleep(3.0)
    return wake_ups(pid) - before <= 2


@pytest.mark.parametrize("small", ["flags"], indirect=True)
def test_an_idle_deployment_sleeps(small: tuple[Stack, ManagedProcess]) -> None:
    """With nothing watched, the API's event loop does not wake at all (uvicorn's woke ten
    times a second) and the worker's a few times in ten seconds: its BRPOP reissued every
    5 s and kombu's restore and health timers (kombu's once-a-second no-op timer for
    expiring queues is cancelled; with it, 13 or more)."""
    stack, worker = small
    web = stack.processes["web"]
    wait_until(lambda: settled(worker.pid), timeout_s=30, message="the worker never settled")
    before = wake_ups(web.pid), wake_ups(worker.pid)
    time.sleep(IDLE_WINDOW_S)  # a window of idleness to count in: nothing to wait on
    web_woke, worker_woke = wake_ups(web.pid) - before[0], wake_ups(worker.pid) - before[1]
    assert web_woke <= 1, web_woke
    assert worker_woke <= 6, worker_woke


def test_one_worker_process_with_beat_inside_notifies_and_stops_cleanly(
    small: tuple[Stack, ManagedProcess], receiver: Receiver
) -> None:
    stack, worker = small
    assert children_of(worker.pid) == []  # no pool: tasks run in the worker process
    with stack.client() as api, ProviderStub("openai", api_key="sk-small") as stub:
        subscribe(api, receiver)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        watch(api, batch_id, connect(api, stub)["id"], poll_interval=1)
        wait_until(lambda: len(stub.requests_for(batch_id)) >= 2, timeout_s=15)
        stub.set_batch(batch_id, "completed", output_file_id="file-out")

        [hook] = receiver.wait_for(1)
        assert hook.verified, hook.verify_error
        assert hook.json["type"] == "batch.completed"
        assert hook.json["data"]["output_file_id"] == "file-out"
        completed = [e for e in events_of(api, batch_id) if e["type"] == "batch.completed"]
        assert [e["id"] for e in completed] == [hook.headers["webhook-id"]]

    worker.popen.send_signal(signal.SIGTERM)  # what a platform sends on stop
    assert worker.popen.wait(timeout=15) == 0
    assert "Traceback" not in worker.log_text()


@contextlib.contextmanager
def pushes_to(redis_url: str, queue: str) -> Iterator[list[str]]:
    """The pushes onto a broker queue's list (its Redis keyspace notifications) made while
    the block runs, listed when it ends."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.config_set("notify-keyspace-events", "Kl")
    pubsub = client.pubsub()
    pubsub.psubscribe(f"__keyspace@*__:{queue}*")
    pushes: list[str] = []
    try:
        yield pushes
        while (message := pubsub.get_message(timeout=0.5)) is not None:
            if message["type"] == "pmessage" and message["data"] in ("lpush", "rpush"):
                pushes.append(message["channel"])
    finally:
        pubsub.close()
        client.close()


@pytest.mark.parametrize("small", ["flags"], indirect=True)
def test_beat_inside_the_worker_runs_its_ticks_without_the_broker(
    small: tuple[Stack, ManagedProcess],
) -> None:
    stack, _ = small
    with (
        pushes_to(stack.env["BATCHHOOK_REDIS_URL"], TICK_QUEUE) as pushes,
        stack.client() as api,
        ProviderStub("openai", api_key="sk-in-process") as stub,
    ):
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        watch(api, batch_id, connect(api, stub)["id"], poll_interval=1)
        wait_until(lambda: len(stub.requests_for(batch_id)) >= 3, timeout_s=15)

    assert pushes == []  # three ticks polled it; not one went through the broker


def test_beat_inside_the_worker_keeps_ticking_through_a_redis_outage(tmp_path: Path) -> None:
    with RedisServer() as server:
        stack = Stack(server.url, tmp_path)
        try:
            stack.start_web()
            worker = stack.start_process("worker", "worker", "--concurrency", "1", "--beat")
            worker.wait_for_log(r"ready\.", timeout_s=30)
            with stack.client() as api, ProviderStub("openai", api_key="sk-outage") as stub:
                batch_id = new_batch_id()
                stub.set_batch(batch_id, "in_progress")
                watch(api, batch_id, connect(api, stub)["id"], poll_interval=1)
                wait_until(lambda: len(stub.requests_for(batch_id)) >= 2, timeout_s=15)

                server.kill()
                worker.wait_for_log(r"tick_failed", timeout_s=15)  # a tick met the outage
                server.start()
                polled = len(stub.requests_for(batch_id))

                wait_until(lambda: len(stub.requests_for(batch_id)) >= polled + 2, timeout_s=30)
            assert worker.popen.poll() is None
        finally:
            stack.stop()


@pytest.mark.parametrize("small", ["flags"], indirect=True)
def test_a_poll_answered_slowly_is_followed_on_time(small: tuple[Stack, ManagedProcess]) -> None:
    """While a poll is out, its batch's place in the schedule is its lease (minutes off):
    beat, reading then, waits. The worker wakes it when the poll is recorded, so the next
    poll keeps its interval rather than waiting for beat's next look (RECHECK_S)."""
    stack, _ = small
    with stack.client() as api, ProviderStub("openai", api_key="sk-slow") as stub:
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        stub.answer_slowly(batch_id, 1.5)  # past beat's next read, a tick after the poll
        watch(api, batch_id, connect(api, stub)["id"], poll_interval=1)
        wait_until(lambda: len(stub.requests_for(batch_id)) >= 1, timeout_s=15)
        first_at = time.monotonic()
        wait_until(lambda: len(stub.requests_for(batch_id)) >= 4, timeout_s=4 * RECHECK_S)
        assert time.monotonic() - first_at < RECHECK_S
