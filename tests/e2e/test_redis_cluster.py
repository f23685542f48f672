"""A Redis Cluster as the state store: three masters on loopback, with Celery's broker
elsewhere (a Cluster cannot be one). The whole stack runs a cohort of batches on it; the
work spreads over every shard, and nothing is lost or doubled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e.flows import (
    connect,
    events_of,
    new_batch_id,
    subscribe,
    wait_for_delivery_state,
    watch,
)
from tests.e2e.ledger import Cohort
from tests.e2e.stack import Stack
from tests.e2e.test_faults import RIG_ENV
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer

PARTITIONS = 12


@pytest.fixture
def cluster() -> Iterator[RedisCluster]:
    with RedisCluster() as started:
        yield started


@pytest.fixture
def broker() -> Iterator[RedisServer]:
    with RedisServer() as single:
        yield single


def cluster_env(broker: RedisServer, **extra: str) -> dict[str, str]:
    return {
        "BATCHHOOK_REDIS_CLUSTER": "1",
        "BATCHHOOK_REDIS_PARTITIONS": str(PARTITIONS),
        "BATCHHOOK_BROKER_URL": broker.url,
        **extra,
    }


@pytest.mark.slow
@pytest.mark.announce("redis deployment")
def test_a_cluster_holds_the_state_of_a_cohort_spread_over_every_shard(
    cluster: RedisCluster, broker: RedisServer, tmp_path: Path
) -> None:
    stack = Stack(cluster.url, tmp_path, **cluster_env(broker, **RIG_ENV))
    try:
        stack.start()
        stack.start_worker("worker-2")
        with stack.client() as api, Cohort(api, 150, seed=17) as cohort:
            cohort.start()
            cohort.run_to_the_end(timeout_s=180)
            cohort.assert_nothing_lost_or_doubled()

            listed = api.get("/v1/batches", params={"limit": 1000})
            assert listed.status_code == 200, listed.text
            assert {b["batch_id"] for b in listed.json()["data"]} >= set(cohort.paths)
            recent = api.get("/v1/events", params={"limit": 20}).json()["data"]
            created = [e["created_at"] for e in recent]
            assert len(recent) == 20 and created == sorted(created, reverse=True)
        status = stack.cli("status")
        assert status.returncode == 0, status.stderr
        assert "Traceback" not in stack.logs()
    finally:
        stack.stop()
    spread = cluster.keys_per_node()
    assert all(count > 0 for count in spread.values()), spread  # every shard holds state
    with redis.Redis.from_url(broker.url) as single:  # the queues: there, not in the Cluster
        assert single.exists("_kombu.binding.batchhook.poll")
        assert not single.keys("bh:*")


def test_a_cluster_without_a_separate_broker_is_refused(
    cluster: RedisCluster, tmp_path: Path
) -> None:
    stack = Stack(cluster.url, tmp_path, BATCHHOOK_REDIS_CLUSTER="1")
    refused = stack.cli("status")
    assert refused.returncode != 0
    assert "BATCHHOOK_BROKER_URL" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_operations_across_slots_work_on_a_cluster(
    cluster: RedisCluster, broker: RedisServer, tmp_path: Path
) -> None:
    """A failed attempt and its retry (delivery and endpoint health in two slots), a
    redelivery, deleting a watch and an endpoint, and the CLI's token list."""
    stack = Stack(cluster.url, tmp_path, **cluster_env(broker, BATCHHOOK_RETRY_SCHEDULE="0.5,1"))
    try:
        stack.start()
        with (
            stack.client() as api,
            ProviderStub("openai", api_key="sk-cluster") as stub,
            Receiver() as receiver,
        ):
            conn, endpoint = connect(api, stub), subscribe(api, receiver)
            receiver.respond_with(500)
            batch_id = new_batch_id()
            stub.script(batch_id, ["completed"])
            watch(api, batch_id, conn["id"])

            failed, retried = receiver.wait_for(2)
            assert retried.verified, retried.verify_error
            assert failed.headers["webhook-id"] == retried.headers["webhook-id"]
            [event] = events_of(api, batch_id)
            shown = wait_for_delivery_state(api, event["id"], "succeeded")
            assert len(shown["deliveries"][0]["attempts"]) == 2

            assert api.post(f"/v1/events/{event['id']}/redeliver").status_code == 202
            again = receiver.wait_for(3)[2]
            assert again.headers["webhook-id"] == event["id"]

            assert api.delete(f"/v1/batches/{batch_id}").status_code < 300
            assert api.get(f"/v1/batches/{batch_id}").status_code == 404
            assert api.delete(f"/v1/endpoints/{endpoint['id']}").status_code < 300
            assert api.get(f"/v1/endpoints/{endpoint['id']}").status_code == 404
        listed = stack.cli("tokens", "list")
        assert listed.returncode == 0, listed.stderr
        assert "Traceback" not in stack.logs()
    finally:
        stack.stop()
