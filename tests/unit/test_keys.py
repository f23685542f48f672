"""Where keys live: one Redis keeps the plain names; partitions and Cluster hash tags put
a watch beside its events and deliveries, and an endpoint's keys in one slot."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from tests.unit.test_transitions import a_watch
from worker import events, keys
from worker.keys import Keyspace

CLUSTER = Keyspace(partitions=16, tagged=True)


def slot(key: str) -> int:
    return key_slot(key.encode())


def test_one_redis_with_one_partition_keeps_the_plain_names() -> None:
    plain = Keyspace()
    wid = keys.watch_id("acme", "batch_1")
    assert (plain.due(0), plain.outbox(0), plain.stats(0)) == ("bh:due", "bh:outbox", "bh:stats")
    assert plain.watch(wid) == f"bh:watch:{wid}"
    assert plain.endpoint_health("ep_1") == "bh:ep:ep_1:health"
    assert plain.tenant_events("acme", 0) == "bh:tenant:acme:events"


def test_a_watchs_events_and_deliveries_share_its_partition_and_slot() -> None:
    for n in range(50):
        watch = a_watch(id=keys.watch_id("acme", f"batch_{n}"), batch_id=f"batch_{n}")
        event_id = events.status_event_id(watch, "completed")
        did = keys.delivery_id(event_id, "ep_1")
        p = CLUSTER.partition(watch.id)
        assert CLUSTER.partition(event_id) == CLUSTER.partition(did) == p
        placed = [CLUSTER.watch(watch.id), CLUSTER.event(event_id), CLUSTER.delivery(did),
                  CLUSTER.due(p), CLUSTER.outbox(p), CLUSTER.tenant_events("acme", p)]  # fmt: skip
        assert {slot(k) for k in placed} == {slot(CLUSTER.due(p))}


def test_watches_spread_over_every_partition() -> None:
    found = {CLUSTER.partition(keys.watch_id("acme", f"batch_{n}")) for n in range(500)}
    assert found == set(range(16))
    assert len({slot(CLUSTER.due(p)) for p in CLUSTER.all_partitions()}) == 16


def test_ids_not_of_ours_are_placed_the_same_way_every_time() -> None:
    event_id = "evt_outbox000001"  # not hex: placed by its digest
    assert CLUSTER.partition(event_id) == CLUSTER.partition(f"{event_id}:ep_1")
    assert CLUSTER.partition(event_id) == Keyspace(16, tagged=True).partition(event_id)


def test_an_endpoints_keys_share_one_slot_on_a_cluster() -> None:
    names = [CLUSTER.endpoint("ep_1"), CLUSTER.endpoint_health("ep_1"),
             CLUSTER.endpoint_failed("ep_1"), CLUSTER.endpoint_sent("ep_1", 5)]  # fmt: skip
    assert len({slot(k) for k in names}) == 1
    assert slot(CLUSTER.connection_paused_until("c")) == slot(CLUSTER.connection_calls("c", 1))
    assert slot(CLUSTER.connection_queue("c")) == slot(CLUSTER.connection_calls("c", 1))
    assert slot(CLUSTER.token("d")) == slot(CLUSTER.token_calls("d", 1))


@pytest.mark.parametrize("count", [0, 1025])
def test_a_partition_count_out_of_range_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match="partitions must be 1 to 1024"):
        Keyspace(partitions=count)
