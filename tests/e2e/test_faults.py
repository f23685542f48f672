"""The fault suite: nothing lost, nothing doubled, whatever breaks.

Three workers and two beats share one append-only Redis. Each case walks a cohort of
batches through their statuses (see ``ledger.Cohort``) while something breaks: workers
killed mid-poll and mid-delivery, Redis down for 30 s, Redis back without its broker
queues, a misbehaving provider, misbehaving receivers, workers told to stop. Each case
then holds the receivers' view to the ledger: every change delivered to every endpoint,
one ``webhook-id`` per change, no id for two changes, the stored events the same.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
import redis

from tests.e2e.ledger import Cohort
from tests.e2e.stack import Stack
from tests.support.faults import Chaos
from tests.support.processes import ManagedProcess
from tests.support.rabbitmq import rabbitmq_vhost
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.announce("fault case"), pytest.mark.slow]

RIG_ENV = {
    # Enough quick retries that a receiver failing 30 % of attempts still gets everything.
    "BATCHHOOK_RETRY_SCHEDULE": "0.5,1,1,1,1,1,1,1,1,1,1,1",
    "BATCHHOOK_POLL_TIMEOUT_S": "2",
    "BATCHHOOK_CIRCUIT_COOLDOWN_S": "1",
    "BATCHHOOK_CIRCUIT_MAX_COOLDOWN_S": "2",
    "BATCHHOOK_RATE_LIMIT_PAUSE_S": "1",
}
WORKERS = 3
PROVIDER_FAULTS = ("429", "500", "timeout", "slow", "malformed", "truncated")
RECEIVER_FAULTS = ("500", "timeout", "reset", "slow", "redirect")
BROKER_KEYS = ("batchhook.poll", "batchhook.deliver", "batchhook.tick", "unacked", "unacked_index")


class Rig:
    """The processes under test, and ways to break them."""

    def __init__(self, stack: Stack, redis_server: RedisServer, broker: str) -> None:
        self.stack = stack
        self.redis = redis_server
        self.broker = broker  # "redis" (the same Redis) or "rabbitmq"
        self.workers: list[ManagedProcess] = []
        self._started = 0

    def start(self) -> None:
        self.stack.start_web()
        for _ in range(WORKERS):
            self.start_worker()
        self.stack.start_beat("beat-1")
        self.stack.start_beat("beat-2")

    def start_worker(self, wait: bool = True) -> ManagedProcess:
        self._started += 1
        name = f"worker-{self._started}"
        worker = (
            self.stack.start_worker(name)
            if wait
            else self.stack.start_process(name, "worker", "--concurrency", "2")
        )
        self.workers.append(worker)
        return worker

    def kill_workers(self) -> None:
        """SIGKILL every worker (and its pool children) at once, then start fresh ones."""
        for worker in self.workers:
            worker.kill(signal.SIGKILL)
        self.workers.clear()
        for _ in range(WORKERS):
            self.start_worker()

    def signal_workers(self, sig: int) -> None:
        for worker in self.workers:
            worker.kill(sig)

    def alive(self) -> list[str]:
        return [n for n, p in self.stack.processes.items() if p.popen.poll() is None]

    def client(self) -> httpx.Client:
        return self.stack.client()


def broker_env(broker: str, exits: ExitStack) -> dict[str, str]:
    if broker == "redis":
        return {}
    return {"BATCHHOOK_BROKER_URL": exits.enter_context(rabbitmq_vhost("bh-faults")).url}


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """Every case runs with Celery's broker in the same Redis, then in RabbitMQ."""
    broker = str(request.param)
    with ExitStack() as exits:
        server = exits.enter_context(RedisServer())
        env = {**RIG_ENV, **broker_env(broker, exits)}
        stack = Stack(server.url, tmp_path_factory.mktemp(f"faults-{broker}"), **env)
        rig = Rig(stack, server, broker)
        try:
            rig.start()
            yield rig
        finally:
            stack.stop()


def test_a_misbehaving_provider_loses_and_doubles_nothing(rig: Rig) -> None:
    with rig.client() as api, Cohort(api, 60, seed=1, redis_url=rig.redis.url) as cohort:
        cohort.stub.chaos = chaos = Chaos(0.25, PROVIDER_FAULTS, seed=1)
        cohort.start()
        cohort.run_to_the_end()
        cohort.assert_nothing_lost_or_doubled()
        assert all(chaos.drawn.values()), chaos.drawn  # every kind of fault happened


def test_misbehaving_receivers_lose_and_double_nothing(rig: Rig) -> None:
    with rig.client() as api, Cohort(api, 60, seed=2, redis_url=rig.redis.url) as cohort:
        for index, receiver in enumerate(cohort.receivers):
            receiver.chaos = Chaos(0.3, RECEIVER_FAULTS, seed=index)
        cohort.start()
        cohort.run_to_the_end()
        cohort.assert_nothing_lost_or_doubled()
        for receiver in cohort.receivers:
            assert receiver.chaos is not None and all(receiver.chaos.drawn.values())


def test_workers_killed_mid_poll_and_mid_delivery_lose_and_double_nothing(rig: Rig) -> None:
    with rig.client() as api, Cohort(api, 60, seed=3, redis_url=rig.redis.url) as cohort:
        # Every answer takes 0.2-1 s, so polls and deliveries are in flight when killed.
        cohort.stub.chaos = Chaos(1.0, ("slow",), seed=3)
        for index, receiver in enumerate(cohort.receivers):
            receiver.chaos = Chaos(1.0, ("slow",), seed=index)
        cohort.start()
        cohort.drive_until(lambda: cohort.stub.in_flight > 0)
        rig.kill_workers()
        cohort.drive_until(lambda: any(r.in_flight for r in cohort.receivers))
        rig.kill_workers()
        cohort.run_to_the_end()
        cohort.assert_nothing_lost_or_doubled()


def test_redis_down_for_30_seconds_loses_and_doubles_nothing(rig: Rig) -> None:
    with rig.client() as api, Cohort(api, 60, seed=4, redis_url=rig.redis.url) as cohort:
        cohort.start()
        cohort.drive_until(lambda: cohort.progress() >= len(cohort.paths) * 2)
        before = rig.alive()
        rig.redis.stop()
        outage_began = time.monotonic()

        assert httpx.get(f"{rig.stack.api_url}/readyz").status_code == 503
        assert httpx.get(f"{rig.stack.api_url}/healthz").status_code == 200
        assert "batchhook_redis_up 0.0" in httpx.get(f"{rig.stack.api_url}/metrics").text
        down = api.get("/v1/batches")
        assert down.status_code == 503, down.text
        assert down.json()["error"]["type"] == "service_unavailable"
        late_starter = rig.start_worker(wait=False)  # starts while Redis is away

        time.sleep(max(0.0, 30 - (time.monotonic() - outage_began)))  # the outage itself
        assert rig.alive() == [*before, late_starter.name], (rig.alive(), before)
        rig.redis.start()

        late_starter.wait_for_log(r"ready\.", timeout_s=60)
        wait_until(lambda: httpx.get(f"{rig.stack.api_url}/readyz").status_code == 200)
        cohort.run_to_the_end(timeout_s=180)
        cohort.assert_nothing_lost_or_doubled()
        assert rig.alive() == [*before, late_starter.name], "a process died after the outage"


def test_redis_back_without_its_broker_queues_loses_and_doubles_nothing(rig: Rig) -> None:
    with rig.client() as api, Cohort(api, 60, seed=5, redis_url=rig.redis.url) as cohort:
        cohort.start()
        cohort.drive_until(lambda: cohort.progress() >= len(cohort.paths) * 2)
        # Frozen workers let work pile up in the broker, then the broker loses it. (With
        # RabbitMQ as the broker its queues are elsewhere: Redis restarts under the
        # frozen workers, and the work queued meanwhile finds it back.)
        rig.signal_workers(signal.SIGSTOP)
        try:
            if rig.broker == "redis":
                client = redis.Redis.from_url(rig.redis.url)
                wait_until(lambda: sum(client.llen(q) for q in BROKER_KEYS[:3]) > 0)
                client.close()
            rig.redis.stop()
            rig.redis.start()
            client = redis.Redis.from_url(rig.redis.url)
            assert client.exists("bh:due")  # the state came back ...
            client.delete(*BROKER_KEYS)  # ... the broker's queues (in Redis) did not
            client.close()
        finally:
            rig.signal_workers(signal.SIGCONT)

        cohort.run_to_the_end(timeout_s=180)
        cohort.assert_nothing_lost_or_doubled()


def test_redis_restored_from_an_older_snapshot_sends_each_change_under_one_id(rig: Rig) -> None:
    """Redis forgets its last writes (a crash before they reached the disk, a failover to
    a replica that lagged): the changes it forgot are detected again and sent again, each
    under the webhook-id it had the first time, so a receiver deduplicating by id sees
    every change once. (A change forgotten before any delivery, of a batch that has since
    moved on at the provider, cannot be seen again: here every change is delivered before
    Redis forgets, which is the case where a receiver would otherwise see one twice.)"""
    with rig.client() as api, Cohort(api, 200, seed=7, redis_url=rig.redis.url) as cohort:
        cohort.start()
        cohort.drive_until(lambda: cohort.progress() >= len(cohort.paths) * 2)
        snapshot = rig.redis.snapshot()
        at_snapshot = cohort.progress()
        cohort.drive_until(lambda: cohort.progress() >= at_snapshot + len(cohort.paths))
        so_far = cohort.made_so_far()
        wait_until(lambda: not cohort.missing(so_far), timeout_s=120, interval_s=0.2)
        delivered_before = sum(len(r.delivered()) for r in cohort.receivers)
        rig.redis.restore(snapshot)

        cohort.run_to_the_end(timeout_s=180)
        cohort.assert_nothing_lost_or_doubled(every_event_stored=False)
        assert delivered_before > 0
        resent = [
            r.headers["webhook-id"] for receiver in cohort.receivers for r in receiver.delivered()
        ]
        assert len(resent) > len(set(resent)), "nothing forgotten was sent again"


def test_sigterm_lets_workers_finish_or_hand_back_their_work(rig: Rig) -> None:
    with rig.client() as api, Cohort(api, 40, seed=6, redis_url=rig.redis.url) as cohort:
        for index, receiver in enumerate(cohort.receivers):
            receiver.chaos = Chaos(1.0, ("slow",), seed=index)
        cohort.start()
        cohort.drive_until(lambda: any(r.in_flight for r in cohort.receivers))
        stopping = {worker: len(worker.log_text()) for worker in rig.workers}
        for worker in stopping:
            os.kill(worker.pid, signal.SIGTERM)  # the main process only, as `docker stop` does
        for worker, logged_before in stopping.items():
            assert worker.popen.wait(timeout=60) == 0, worker.log_text()[-2000:]
            assert "Traceback" not in worker.log_text()[logged_before:]
        rig.workers.clear()
        for _ in range(WORKERS):
            rig.start_worker()
        cohort.run_to_the_end()
        cohort.assert_nothing_lost_or_doubled()


def test_every_process_stops_cleanly_on_sigterm(rig: Rig) -> None:
    processes = [p for p in rig.stack.processes.values() if p.popen.poll() is None]
    assert {p.name for p in processes} >= {"web", "beat-1", "beat-2"}
    for process in processes:
        os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        code = process.popen.wait(timeout=60)
        # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
        clean = (0, -signal.SIGTERM) if process.name == "web" else (0,)
        assert code in clean, (process.name, code, process.log_text()[-2000:])
    assert "Finished server process" in rig.stack.processes["web"].log_text()
