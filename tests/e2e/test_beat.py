"""Beat sends the tick only when the tick has something to claim: an idle deployment's
worker runs no task (and beat spends next to no CPU), while anything falling due is
still claimed within a tick or two.

Between reads of the schedules beat waits for a wake (``Store.wake_beat``, which the API
and the worker's tasks send after their writes) or for the soonest due time it knows of;
the tests' own writes straight into Redis wake it as those writers do."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.flows import connect, new_batch_id, watch
from tests.e2e.stack import TEST_SECRET_KEY, Stack
from tests.support.provider_stub import ProviderStub
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from worker import keys
from worker.beat import RECHECK_S
from worker.store import Store, redis_client
from worker.vault import Vault

TICK_S = 0.2


GATHER_S = 2.0


@pytest.fixture(params=[0.0])
def beat_only(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Stack, Store]]:
    """A private Redis with beat alone: no worker takes the ticks, so the tick queue
    shows every tick beat sent. The parameter is BATCHHOOK_POLL_GATHER_S."""
    with RedisServer() as server:
        beat = Stack(
            server.url,
            tmp_path,
            BATCHHOOK_TICK_INTERVAL_S=str(TICK_S),
            BATCHHOOK_POLL_GATHER_S=str(request.param),
            BATCHHOOK_POLL_CHUNK_SIZE="3",
        )
        client = redis_client(server.url)
        try:
            beat.start_beat()
            yield beat, Store(client, Vault(TEST_SECRET_KEY))
        finally:
            beat.stop()
            client.close()


def ticks_sent(store: Store) -> int:
    return int(store.redis.llen(keys.TICK_QUEUE))


def schedule_reads(store: Store) -> int:
    """How many times the schedules were read (beat's ``next_due`` counts polls due)."""
    stats = store.redis.execute_command("INFO", "commandstats")
    return int(stats.get("cmdstat_zcount", {}).get("calls", 0))


def test_beat_sends_no_tick_while_nothing_is_due(beat_only: tuple[Stack, Store]) -> None:
    _, store = beat_only
    wait_until(lambda: ticks_sent(store) == 1, timeout_s=30, message="beat sent no first tick")
    # ten tick intervals with nothing watched: no tick (the next heartbeat is a minute off)
    deadline = time.monotonic() + 10 * TICK_S
    while time.monotonic() < deadline:
        assert ticks_sent(store) == 1
        time.sleep(TICK_S / 4)
    store.redis.zadd(keys.DISCOVER, {"conn_due_now": time.time()})  # a listing falls due
    store.wake_beat()
    wait_until(lambda: ticks_sent(store) >= 2, timeout_s=5, message="a due listing sent no tick")


def test_with_nothing_due_beat_reads_the_schedules_rarely(beat_only: tuple[Stack, Store]) -> None:
    _, store = beat_only
    wait_until(lambda: ticks_sent(store) == 1, timeout_s=30, message="beat sent no first tick")
    before = schedule_reads(store)
    time.sleep(15 * TICK_S)  # idle for fifteen ticks: the idle time is what is tested
    assert schedule_reads(store) - before <= 2


def test_a_write_that_wakes_no_one_is_still_ticked_for(beat_only: tuple[Stack, Store]) -> None:
    _, store = beat_only
    wait_until(lambda: ticks_sent(store) == 1, timeout_s=30, message="beat sent no first tick")
    store.redis.zadd(keys.DISCOVER, {"conn_due_now": time.time()})  # no wake_beat()
    wait_until(
        lambda: ticks_sent(store) >= 2,
        timeout_s=RECHECK_S + 5,
        message="beat never read the schedules again",
    )


def test_a_poll_due_soon_is_ticked_for_before_it_falls_due(
    beat_only: tuple[Stack, Store],
) -> None:
    _, store = beat_only
    wait_until(lambda: ticks_sent(store) == 1, timeout_s=30, message="beat sent no first tick")
    due_at = time.time() + 3.0
    store.redis.zadd(store.keys.due(0), {"w_due_soon": due_at})
    store.wake_beat()
    wait_until(lambda: ticks_sent(store) >= 2, timeout_s=10, message="a due poll sent no tick")
    assert time.time() <= due_at + TICK_S  # within a tick of its due time, not a minute


@pytest.mark.parametrize("beat_only", [GATHER_S], indirect=True)
def test_with_gathering_a_lone_due_poll_waits_for_company_a_chunk_goes_at_once(
    beat_only: tuple[Stack, Store],
) -> None:
    _, store = beat_only
    wait_until(lambda: ticks_sent(store) == 1, timeout_s=30, message="beat sent no first tick")
    due_at = time.time()
    store.redis.zadd(store.keys.due(0), {"w_alone": due_at})
    store.wake_beat()
    wait_until(lambda: ticks_sent(store) >= 2, timeout_s=10, message="a lone poll sent no tick")
    assert time.time() >= due_at + GATHER_S - TICK_S  # it waited to gather others
    store.redis.zrem(store.keys.due(0), "w_alone")  # as the tick's claim would
    store.redis.delete(keys.TICK_QUEUE)

    store.redis.zadd(store.keys.due(0), {f"w_{i}": time.time() for i in range(3)})
    store.wake_beat()
    sent_at = time.time()  # a chunk's worth (3 here) is due: no waiting
    wait_until(lambda: ticks_sent(store) >= 1, timeout_s=5, message="a due chunk sent no tick")
    assert time.time() < sent_at + GATHER_S - TICK_S


@pytest.mark.parametrize("beat_only", [3 * GATHER_S], indirect=True)
def test_with_gathering_polls_falling_due_later_go_once_a_chunk_is_due(
    beat_only: tuple[Stack, Store],
) -> None:
    _, store = beat_only
    wait_until(lambda: ticks_sent(store) == 1, timeout_s=30, message="beat sent no first tick")
    now = time.time()
    chunk_due_at = now + 2.0  # the third poll, long before the first one's gathering ends
    due = {"w_first": now + 0.5, "w_second": now + 1.0, "w_third": chunk_due_at}
    store.redis.zadd(store.keys.due(0), due)
    store.wake_beat()
    wait_until(lambda: ticks_sent(store) >= 2, timeout_s=10, message="a due chunk sent no tick")
    assert time.time() <= chunk_due_at + TICK_S


def register_a_batch(api: httpx.Client, stub: ProviderStub) -> None:
    """A registration: its first poll is due at once (the write itself wakes beat)."""
    batch_id = new_batch_id()
    stub.set_batch(batch_id, "in_progress")
    watch(api, batch_id, connect(api, stub)["id"])


def send_a_test_event(api: httpx.Client, stub: ProviderStub) -> None:
    """A test event: its delivery is due at once (woken by the API's middleware)."""
    endpoint = api.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/hooks"})
    endpoint.raise_for_status()
    api.post(f"/v1/endpoints/{endpoint.json()['id']}/test").raise_for_status()


@pytest.mark.parametrize("write", [register_a_batch, send_a_test_event])
def test_an_api_write_wakes_a_waiting_beat(
    tmp_path: Path, write: Callable[[httpx.Client, ProviderStub], None]
) -> None:
    """With nothing due beat waits up to RECHECK_S; an API write that makes something due
    wakes it, so that is ticked for at once."""
    with RedisServer() as server, ProviderStub("openai", api_key="sk-wake") as stub:
        stack = Stack(server.url, tmp_path, BATCHHOOK_TICK_INTERVAL_S=str(TICK_S))
        store = Store(redis_client(server.url), Vault(TEST_SECRET_KEY))
        try:
            stack.start_web()
            stack.start_beat()
            wait_until(lambda: ticks_sent(store) == 1, timeout_s=30, message="no first tick")
            with stack.client() as api:
                written_at = time.monotonic()
                write(api, stub)
                wait_until(lambda: ticks_sent(store) >= 2, timeout_s=RECHECK_S, message="no tick")
            assert time.monotonic() - written_at < RECHECK_S / 2
        finally:
            stack.stop()
            store.close()
