"""The Redis and brokers teams already run: TLS, Sentinel with a failover, a replica to wait
for, and RabbitMQ as Celery's broker. Each runs the whole stack against real servers on
loopback and checks what a user sees: the webhook, verified."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.e2e.flows import connect, new_batch_id, subscribe, watch
from tests.e2e.ledger import Cohort
from tests.e2e.stack import Stack
from tests.e2e.test_faults import RIG_ENV
from tests.support.provider_stub import ProviderStub
from tests.support.rabbitmq import Vhost, rabbitmq_vhost
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer
from tests.support.redis_tls import TlsRedisServer
from tests.support.sentinel import SentinelSet
from tests.support.waiting import wait_until


def a_batch_completes_with_one_verified_webhook(stack: Stack) -> None:
    with (
        stack.client() as api,
        ProviderStub("openai", api_key="sk-deploy") as stub,
        Receiver() as receiver,
    ):
        conn = connect(api, stub)
        subscribe(api, receiver)
        batch_id = new_batch_id()
        stub.script(batch_id, ["in_progress", "finalizing", "completed"])
        watch(api, batch_id, conn["id"])

        [hook] = receiver.wait_for(1)
        assert hook.verified, hook.verify_error
        assert hook.json["type"] == "batch.completed"
        assert hook.json["data"]["id"] == batch_id


@pytest.fixture
def tls_redis() -> Iterator[TlsRedisServer]:
    with TlsRedisServer() as server:
        yield server


def test_a_tls_redis_serves_store_and_broker_with_the_certificate_verified(
    tls_redis: TlsRedisServer, tmp_path: Path
) -> None:
    stack = Stack(tls_redis.url, tmp_path, BATCHHOOK_REDIS_CA_FILE=tls_redis.ca_file)
    try:
        stack.start()
        a_batch_completes_with_one_verified_webhook(stack)
    finally:
        stack.stop()
    client = tls_redis.client()
    try:  # the broker's queues live in the TLS Redis too
        assert client.hget("bh:stats", "polls") and client.exists("_kombu.binding.batchhook.poll")
    finally:
        client.close()


def test_a_tls_redis_whose_certificate_cannot_be_verified_is_refused(
    tls_redis: TlsRedisServer, tmp_path: Path
) -> None:
    stack = Stack(tls_redis.url, tmp_path)  # no CA file: the system CAs do not know it
    refused = stack.cli("status")
    assert refused.returncode != 0
    assert "certificate verify failed" in refused.stderr
    assert "Traceback" not in refused.stderr

    insecure = Stack(tls_redis.url, tmp_path, BATCHHOOK_REDIS_TLS_VERIFY="0")
    assert insecure.cli("status").returncode == 0  # the explicit opt-out, for test servers


@pytest.fixture
def vhost() -> Iterator[Vhost]:
    with rabbitmq_vhost() as fresh:
        yield fresh


def test_a_rabbitmq_broker_carries_the_polls_and_deliveries(vhost: Vhost, tmp_path: Path) -> None:
    with RedisServer() as own_redis:
        stack = Stack(own_redis.url, tmp_path, BATCHHOOK_BROKER_URL=vhost.url)
        client = redis.Redis.from_url(own_redis.url)
        try:
            stack.start()
            a_batch_completes_with_one_verified_webhook(stack)
            assert client.hget("bh:stats", "polls")
            assert not client.keys("_kombu*") and not client.exists("batchhook.poll")
            assert "guest:guest" not in stack.logs()  # the broker's password is masked
        finally:
            stack.stop()
            client.close()


@pytest.fixture
def sentinels() -> Iterator[SentinelSet]:
    with SentinelSet() as found:
        yield found


def sentinel_env(sentinels: SentinelSet, **extra: str) -> dict[str, str]:
    return {
        "BATCHHOOK_REDIS_SENTINELS": sentinels.sentinels_env,
        "BATCHHOOK_REDIS_MASTER": sentinels.master_name,
        **extra,
    }


@pytest.mark.slow
@pytest.mark.announce("redis deployment")
def test_a_sentinel_failover_mid_run_loses_and_doubles_nothing(
    sentinels: SentinelSet, tmp_path: Path
) -> None:
    """The URL's host is nowhere: the Sentinels name the primary, then another one."""
    stack = Stack("redis://127.0.0.1:1/0", tmp_path, **sentinel_env(sentinels, **RIG_ENV))
    try:
        stack.start()
        stack.start_worker("worker-2")
        with stack.client() as api, Cohort(api, 200, seed=11) as cohort:
            cohort.start()
            cohort.drive_until(lambda: cohort.progress() >= len(cohort.paths) * 2)
            old_primary = sentinels.current_primary()
            new_primary = sentinels.failover()
            assert new_primary != old_primary

            cohort.run_to_the_end(timeout_s=180)
            cohort.assert_nothing_lost_or_doubled()
        alive = [n for n, p in stack.processes.items() if p.popen.poll() is None]
        assert sorted(alive) == ["beat", "web", "worker", "worker-2"], stack.logs()[-3000:]
    finally:
        stack.stop()
    primary = sentinels.node_client(new_primary[1])
    try:  # the work went on on the new primary
        assert primary.zcard("bh:due") == 0 and primary.hget("bh:stats", "polls")
    finally:
        primary.close()


def test_api_writes_wait_for_a_replica(sentinels: SentinelSet, tmp_path: Path) -> None:
    primary = f"redis://127.0.0.1:{sentinels.current_primary()[1]}/0"
    waits = Stack(primary, tmp_path, BATCHHOOK_REDIS_WAIT_REPLICAS="1")
    too_many = Stack(
        primary,
        tmp_path,
        BATCHHOOK_REDIS_WAIT_REPLICAS="2",  # there is one
        BATCHHOOK_REDIS_WAIT_TIMEOUT_S="0.5",
    )
    try:
        waits.start_web()
        too_many.start_web()
        with waits.client() as api:
            made = api.post("/v1/endpoints", json={"url": "https://example.com/hooks"})
            assert made.status_code == 201, made.text
        replica = sentinels.node_client(sentinels.current_replica_port())
        try:  # answered only once the replica had it
            assert replica.exists(f"bh:ep:{made.json()['id']}")
        finally:
            replica.close()
        with too_many.client() as api:
            unconfirmed = api.post("/v1/endpoints", json={"url": "https://example.com/hooks"})
            assert unconfirmed.status_code == 503, unconfirmed.text
            error = unconfirmed.json()["error"]
            assert error["type"] == "service_unavailable"
            assert "1 of 2 Redis replicas" in error["message"]
            assert api.get("/v1/endpoints").status_code == 200  # reads do not wait
    finally:
        waits.stop()
        too_many.stop()


def test_readyz_follows_the_store_through_sentinel(sentinels: SentinelSet, tmp_path: Path) -> None:
    stack = Stack("redis://127.0.0.1:1/0", tmp_path, **sentinel_env(sentinels))
    try:
        stack.start_web()
        ready = httpx.get(f"{stack.api_url}/readyz")
        assert ready.status_code == 200, ready.text
        sentinels.failover()
        wait_until(lambda: httpx.get(f"{stack.api_url}/readyz").status_code == 200)
        with stack.client() as api:
            assert api.get("/v1/endpoints").status_code == 200
    finally:
        stack.stop()


def test_a_partition_count_other_than_the_datas_is_refused(tmp_path: Path) -> None:
    """The partition count places every watch and event: a process with another count
    would miss them all, so it stops with the reason and changes nothing."""
    with RedisServer() as server:
        assert Stack(server.url, tmp_path).cli("status").returncode == 0  # records 1
        other = Stack(server.url, tmp_path, BATCHHOOK_REDIS_PARTITIONS="4")
        refused = other.cli("status")
        assert refused.returncode != 0
        assert "BATCHHOOK_REDIS_PARTITIONS=1" in refused.stderr
        assert "Traceback" not in refused.stderr
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            assert client.get("bh:layout") == "1"
        finally:
            client.close()
