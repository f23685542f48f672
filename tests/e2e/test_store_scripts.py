"""The Lua scripts behind their typed wrappers, against a private redis-server.

Each script is given every key it touches as KEYS: watched with MONITOR, which also
shows the commands a script runs, every key a script reads or writes is one it was
given, and so is every key that appears or changes. Each test runs on the plain layout
(one partition, no hash tags) and on a Cluster's (partitions, hash tags), where every
call's keys must also share one Redis Cluster slot, or a Cluster would refuse it. Script
calls sent many at a time survive a Redis that lost its scripts.
"""

from __future__ import annotations

import base64
import inspect
import json
import re
import secrets
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from tests.e2e.stack import TEST_SECRET_KEY
from tests.support.redis_server import RedisServer
from worker import keys
from worker.errors import StoreUnavailable
from worker.events import new_event, new_event_id
from worker.keys import Keyspace
from worker.models import NewEvent, PollRecord
from worker.store import (
    AttemptDone,
    ClaimAt,
    DueWork,
    Scripts,
    Store,
    WatchRegistration,
    redis_client,
)
from worker.store.calls import Call, run_scripts, run_scripts_then
from worker.store.client import typed
from worker.vault import Vault

TENANT = "tenant-scripts"
QUOTED = re.compile(r'"(.*?)(?<!\\)"')  # one argument of a MONITOR line
SCRIPT_CALLS = {"evalsha", "eval"}


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    """This module's own Redis: MONITOR must see nobody else's commands."""
    with RedisServer() as private:
        yield private


LAYOUTS = {"plain": Keyspace(), "cluster": Keyspace(partitions=4, tagged=True)}


@pytest.fixture(params=list(LAYOUTS))
def store(server: RedisServer, request: pytest.FixtureRequest) -> Iterator[Store]:
    client = redis_client(server.url)
    client.flushdb()  # the module's private server: each test starts from nothing
    try:
        yield Store(
            client, Vault(TEST_SECRET_KEY), retention_s=3600, keyspace=LAYOUTS[request.param]
        )
    finally:
        client.close()


@dataclass(frozen=True)
class Touched:
    declared: set[str]  # every key the script calls were given as KEYS
    slots_per_call: list[set[int]]  # the Cluster slots of each call's KEYS
    accessed: set[str]  # every key a command run by a script named
    changed: set[str]  # every key that appeared, went, or changed value or expiry
    scripts_run: int


def snapshot(client: redis.Redis) -> dict[bytes, tuple[Any, bool]]:
    return {k: (client.dump(k), client.pttl(k) > 0) for k in client.keys("*")}


def touched_by(server: RedisServer, action: Callable[[], object]) -> Touched:
    """Run ``action`` under MONITOR and say which keys its scripts were given and used."""
    client = redis.Redis.from_url(server.url)
    before = snapshot(client)
    marker = f"end-of-action-{time.monotonic_ns()}"
    declared: set[str] = set()
    slots_per_call: list[set[int]] = []
    lua_commands: list[list[str]] = []
    scripts_run = 0
    with client.monitor() as monitor:
        action()
        client.echo(marker)
        while True:
            line = monitor.connection.read_response()
            text = line.decode(errors="replace") if isinstance(line, bytes) else str(line)
            args = QUOTED.findall(text.split("]", 1)[1])
            if args == ["ECHO", marker] or args == ["echo", marker]:
                break
            if " lua]" in text:
                lua_commands.append(args)
            elif args and args[0].lower() in SCRIPT_CALLS:
                numkeys = int(args[2])
                declared.update(args[3 : 3 + numkeys])
                slots_per_call.append({key_slot(k.encode()) for k in args[3 : 3 + numkeys]})
                scripts_run += 1
    accessed = set()
    for args in lua_commands:
        found = client.execute_command("COMMAND GETKEYS", *args)
        accessed.update(k.decode() if isinstance(k, bytes) else str(k) for k in found)
    after = snapshot(client)
    changed = {k.decode() for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    client.close()
    return Touched(declared, slots_per_call, accessed, changed, scripts_run)


def assert_confined(found: Touched, keyspace: Keyspace) -> None:
    assert found.scripts_run > 0
    assert found.accessed  # MONITOR showed the scripts' own commands
    assert found.accessed <= found.declared, found.accessed - found.declared
    assert found.changed <= found.declared, found.changed - found.declared
    if keyspace.tagged:
        assert [slots for slots in found.slots_per_call if len(slots) > 1] == []


def registration(batch_id: str, now: float, **fields: Any) -> WatchRegistration:
    return WatchRegistration(
        tenant=fields.get("tenant", TENANT),
        batch_id=batch_id,
        connection_id="conn_scripts",
        endpoint_ids=fields.get("endpoint_ids"),
        metadata={"team": "a"},
        poll_interval_s=fields.get("poll_interval_s"),
        now=now,
        first_poll_at=now,
    )


BIG_DATA = {  # what one event hash field could not hold whole
    "batch": {f"{n}_at": 1_796_000_000 + n for n in range(40)},
    "metadata": {f"key_{n}": secrets.token_hex(8) for n in range(8)},
}


def event_for(wid: str, batch_id: str, endpoints: tuple[str, ...], now: float) -> NewEvent:
    return new_event(
        tenant=TENANT,
        event_type="batch.completed",
        data={"id": batch_id},
        endpoint_ids=endpoints,
        now=now,
        watch_id=wid,
        batch_id=batch_id,
    )


def completed(wid: str, event: NewEvent | None, now: float) -> PollRecord:
    return PollRecord(
        watch_id=wid,
        tenant=TENANT,
        now=now,
        next_poll_at=None,
        expected_status=None,
        status="completed",
        snapshot={"id": "batch", "status": "completed"},
        summary={"normalized_status": "completed"},
        event=event,
    )


def test_registering_watches_touches_only_their_keys(server: RedisServer, store: Store) -> None:
    now = time.time()
    regs = [registration("batch_r1", now), registration("batch_r2", now, endpoint_ids=["ep_1"])]

    found = touched_by(server, lambda: store.scripts.register_watches(regs))

    assert_confined(found, store.keys)
    assert store.scripts.register_watches(regs) == [False, False]  # already watched
    assert [w.batch_id for w in store.list_watches(TENANT)] == ["batch_r1", "batch_r2"]


def test_a_poll_that_ends_a_watch_with_its_event_touches_only_its_keys(
    server: RedisServer, store: Store
) -> None:
    now = time.time()
    [reg] = [registration("batch_p1", now)]
    store.scripts.register_watches([reg])
    event = event_for(reg.watch_id, "batch_p1", ("ep_a", "ep_b"), now)

    outcomes: list[Any] = []
    found = touched_by(
        server,
        lambda: outcomes.extend(store.record_polls([completed(reg.watch_id, event, now)]).values()),
    )

    assert_confined(found, store.keys)
    assert outcomes == [
        ("changed", [keys.delivery_id(event.id, "ep_a"), keys.delivery_id(event.id, "ep_b")])
    ]
    p = store.keys.partition(reg.watch_id)
    assert {
        store.keys.finished(p),
        store.keys.event(event.id),
        store.keys.outbox(p),
    } <= found.changed
    assert store.redis.ttl(store.keys.watch(reg.watch_id)) > 0  # kept for the retention only


def test_polls_recorded_together_each_get_their_own_outcome(
    server: RedisServer, store: Store
) -> None:
    """A chunk's polls over several partitions in one round trip: each is recorded as if
    alone (a change with its event, one unchanged, one read stale, one of a watch that
    stopped, an error), and each answer is its own poll's."""
    now = time.time()
    regs = [registration(f"batch_m{n}", now) for n in range(12)]
    store.scripts.register_watches(regs)
    wids = [reg.watch_id for reg in regs]
    store.record_polls([completed(wids[3], None, now)])  # stopped before this chunk
    events = {n: event_for(wids[n], f"batch_m{n}", ("ep_a",), now) for n in (0, 5, 6, 7, 8)}
    records = [
        completed(wids[n], events.get(n), now) for n in (0, 3, 5, 6, 7, 8)
    ] + [
        replace(completed(wids[1], None, now), status="in_progress", next_poll_at=now + 60,
                expected_status="validating"),  # stale: the watch never was validating
        replace(completed(wids[2], None, now), status="", next_poll_at=now + 60),  # unchanged
        replace(completed(wids[4], None, now), status=None, error="HTTP 500",
                next_poll_at=now + 30, snapshot=None, summary=None),
    ]  # fmt: skip
    if store.keys.partitions > 1:
        assert len({store.keys.partition(r.watch_id) for r in records}) > 1

    answers: dict[str, Any] = {}
    found = touched_by(server, lambda: answers.update(store.record_polls(records)))

    assert_confined(found, store.keys)
    for n in (0, 5, 6, 7, 8):
        assert answers[wids[n]] == ("changed", [keys.delivery_id(events[n].id, "ep_a")])
    assert answers[wids[3]] == ("stopped", [])
    assert answers[wids[1]] == ("conflict", [])
    assert answers[wids[2]] == ("unchanged", [])
    assert answers[wids[4]] == ("retry", [])
    watches = {w.id: w for w in store.watches_by_id(wids)}
    assert [watches[wids[n]].status for n in (0, 1, 2, 5)] == ["completed", None, None, "completed"]
    assert watches[wids[4]].next_poll_at == pytest.approx(now + 30)
    # A call's counts are summed and written once each: the totals are the polls' own.
    stats = store.stats()
    assert stats["polls_changed"] == 6  # the five of the chunk and the one before it
    assert stats["transitions_completed"] == 6
    assert stats["events_created"] == 5
    assert (stats["polls_stopped"], stats["polls_conflict"], stats["polls_unchanged"]) == (1, 1, 1)
    assert stats["polls_retry"] == stats["poll_errors"] == 1


def test_the_raw_answer_is_kept_only_while_it_names_a_result_file(store: Store) -> None:
    now = time.time()
    reg = registration("batch_raw", now)
    store.scripts.register_watches([reg])
    finalizing = {"id": "batch_raw", "status": "finalizing", "error_file_id": "file-err"}

    def poll(status: str, raw: dict[str, Any] | None, at: float) -> Any:
        record = PollRecord(
            watch_id=reg.watch_id, tenant=TENANT, now=at, next_poll_at=at + 60,
            expected_status=store.get_watch(TENANT, "batch_raw").status, status=status,
            snapshot=raw, summary={"normalized_status": status},
        )  # fmt: skip
        store.record_polls([record])
        return store.get_watch(TENANT, "batch_raw")

    running = poll("in_progress", None, now + 1)
    assert running.snapshot is None and running.summary == {"normalized_status": "in_progress"}
    assert poll("finalizing", finalizing, now + 2).snapshot == finalizing
    assert poll("in_progress", None, now + 3).snapshot is None  # no stale file ids kept


def test_a_polled_watch_stays_compact_and_one_recorded_before_reads_the_same(
    store: Store,
) -> None:
    now = time.time()
    reg = registration("batch_old", now)
    store.scripts.register_watches([reg])
    key = store.keys.watch(reg.watch_id)
    older = {"normalized_status": "validating", "request_counts": None}
    store.redis.hset(key, "summary", json.dumps(older))  # as watches were recorded before

    assert store.get_watch(TENANT, "batch_old").summary == older
    assert [w.batch_id for w in store.page_watches(TENANT, status="validating").data] == [
        "batch_old"
    ]
    summary = {"normalized_status": "in_progress", "request_counts": {"total": 9, "failed": 0}}
    store.record_polls(
        [
            PollRecord(
                watch_id=reg.watch_id, tenant=TENANT, now=now + 1, next_poll_at=now + 60,
                status="in_progress", summary=summary,
            )
        ]
    )  # fmt: skip

    assert store.get_watch(TENANT, "batch_old").summary == summary
    assert [w.batch_id for w in store.page_watches(TENANT, status="in_progress").data] == [
        "batch_old"
    ]
    assert not store.redis.hexists(key, "summary")
    assert store.redis.object("encoding", key) == "listpack"  # Redis's compact hash


def test_a_summary_entry_that_turns_null_is_not_kept(store: Store) -> None:
    now = time.time()
    reg = registration("batch_nulls", now)
    store.scripts.register_watches([reg])

    def poll(at: float, stalled_since: float | None) -> dict[str, Any]:
        summary = {"normalized_status": "in_progress", "stalled_since": stalled_since}
        store.record_polls(
            [
                PollRecord(
                    watch_id=reg.watch_id, tenant=TENANT, now=at, next_poll_at=at + 60,
                    expected_status=store.get_watch(TENANT, "batch_nulls").status,
                    status="in_progress", summary=summary,
                )
            ]
        )  # fmt: skip
        return store.get_watch(TENANT, "batch_nulls").summary

    assert poll(now + 1, now)["stalled_since"] == now
    assert poll(now + 2, None).get("stalled_since") is None
    assert not store.redis.hexists(store.keys.watch(reg.watch_id), "s:stalled_since")


def test_poll_errors_touch_only_their_keys(server: RedisServer, store: Store) -> None:
    now = time.time()
    retry, failing = registration("batch_e1", now), registration("batch_e2", now)
    store.scripts.register_watches([retry, failing])
    failed_event = event_for(failing.watch_id, "batch_e2", ("ep_a",), now)
    records = [
        PollRecord(watch_id=retry.watch_id, tenant=TENANT, now=now, next_poll_at=now + 60,
                   error="503 from the provider", not_found_since=now),
        PollRecord(watch_id=failing.watch_id, tenant=TENANT, now=now, next_poll_at=None,
                   error="404 unknown batch", event=failed_event),
    ]  # fmt: skip

    outcomes: dict[str, Any] = {}
    found = touched_by(server, lambda: outcomes.update(store.record_polls(records)))

    assert_confined(found, store.keys)
    assert outcomes[retry.watch_id] == ("retry", [])
    assert outcomes[failing.watch_id][0] == "failed"


def test_events_outside_the_poll_path_touch_only_their_keys(
    server: RedisServer, store: Store
) -> None:
    now = time.time()
    unwatched = new_event(
        tenant=TENANT, event_type="webhook.test", data={}, endpoint_ids=("ep_t",), now=now
    )
    watched = event_for(keys.watch_id(TENANT, "batch_c1"), "batch_c1", ("ep_t", "ep_u"), now)

    answers: list[list[str]] = []
    found = touched_by(
        server,
        lambda: answers.extend(
            store.scripts.create_events([unwatched, watched], retention_s=60, lease_until=now)
        ),
    )

    assert_confined(found, store.keys)
    assert answers == [
        [keys.delivery_id(unwatched.id, "ep_t")],
        [keys.delivery_id(watched.id, "ep_t"), keys.delivery_id(watched.id, "ep_u")],
    ]


def test_an_event_written_again_keeps_its_deliveries_and_adds_only_new_endpoints(
    store: Store,
) -> None:
    """Ids are derived, so the same change can be written twice (a status reached again,
    a batch watched again): what was sent stays on record, nothing is sent twice."""
    now = time.time()
    wid = keys.watch_id(TENANT, "batch_again")
    store.scripts.register_watches([registration("batch_again", now)])
    first = event_for(wid, "batch_again", ("ep_a",), now)
    [[delivered]] = store.scripts.create_events([first], retention_s=60, lease_until=now)
    store.redis.hset(store.keys.delivery(delivered), "state", "succeeded")
    outbox = store.keys.outbox(store.keys.partition(wid))
    store.redis.zrem(outbox, delivered)

    again = replace(first, endpoint_ids=("ep_a", "ep_b"), body='{"later": true}')
    [created] = store.scripts.create_events([again], retention_s=60, lease_until=now)

    assert created == [keys.delivery_id(first.id, "ep_b")]
    assert store.redis.hget(store.keys.delivery(delivered), "state") == "succeeded"
    assert store.redis.zrange(outbox, 0, -1) == created
    assert store.stored_events([first.id])[0].body == first.body
    shown = store.get_event(TENANT, first.id)
    assert [d["endpoint_id"] for d in shown["deliveries"]] == ["ep_a", "ep_b"]
    assert store.watch_event_ids(wid) == [first.id]
    assert store.stats()["events_created"] == 1


def status_change(wid: str, status: str, at: float, event: NewEvent | None) -> PollRecord:
    return PollRecord(
        watch_id=wid, tenant=TENANT, now=at, next_poll_at=at + 60, status=status,
        expected_status=None if status == "validating" else "validating", event=event,
        summary={"normalized_status": status},
    )  # fmt: skip


def test_a_watch_keeps_its_history_and_event_ids_in_its_compact_hash(store: Store) -> None:
    now = round(time.time(), 2)  # as the history keeps it
    reg = registration("batch_hist", now)
    store.scripts.register_watches([reg])
    wid = reg.watch_id
    events = [event_for(wid, "batch_hist", (), now), event_for(wid, "batch_hist", (), now + 1)]
    store.record_polls([status_change(wid, "validating", now, events[0])])
    store.record_polls([status_change(wid, "in_progress", now + 1, events[1])])

    history = [
        {"status": "validating", "at": now, "event_id": events[0].id},
        {"status": "in_progress", "at": now + 1, "event_id": events[1].id},
    ]
    assert store.history_and_event_ids(wid) == (history, [e.id for e in events])
    assert store.watch_event_ids(wid) == [e.id for e in events]
    newest_first = [events[1].id, events[0].id]
    assert [e["id"] for e in store.list_events(TENANT, batch_id="batch_hist")] == newest_first
    shown_history, shown_events = store.watch_details(wid)
    assert (shown_history, [e["id"] for e in shown_events]) == (history, newest_first)
    assert [e["id"] for e in store.watch_details(wid, limit=1)[1]] == newest_first[:1]
    assert store.redis.object("encoding", store.keys.watch(wid)) == "listpack"
    assert not store.redis.exists(store.keys.watch_history(wid), store.keys.watch_events(wid))


def test_a_watch_recorded_before_reads_its_lists_first(store: Store) -> None:
    now = round(time.time(), 2)  # as the history keeps it
    reg = registration("batch_lists", now)
    store.scripts.register_watches([reg])
    wid = reg.watch_id
    older = {"status": "validating", "at": now - 5, "event_id": "evt_older"}
    store.redis.rpush(store.keys.watch_history(wid), json.dumps(older))
    store.redis.rpush(store.keys.watch_events(wid), "evt_older")
    store.redis.hset(store.keys.watch(wid), "status", "validating")
    event = event_for(wid, "batch_lists", (), now)
    store.record_polls([status_change(wid, "in_progress", now, event)])

    history = [older, {"status": "in_progress", "at": now, "event_id": event.id}]
    assert store.history_and_event_ids(wid) == (history, ["evt_older", event.id])
    assert store.watch_event_ids(wid) == ["evt_older", event.id]


def test_a_failed_watch_registered_again_keeps_its_history(store: Store) -> None:
    now = round(time.time(), 2)  # as the history keeps it
    reg = registration("batch_again_after_failure", now)
    store.scripts.register_watches([reg])
    wid = reg.watch_id
    event = event_for(wid, "batch_again_after_failure", (), now)
    store.record_polls([status_change(wid, "validating", now, event)])
    store.redis.hset(store.keys.watch(wid), mapping={"watching": 0, "watch_failed_at": now})

    assert store.scripts.register_watches([replace(reg, now=now + 1)]) == [True]
    assert store.get_watch(TENANT, "batch_again_after_failure").watching
    history = [{"status": "validating", "at": now, "event_id": event.id}]
    assert store.history_and_event_ids(wid) == (history, [event.id])


def test_an_event_stays_compact_and_one_stored_before_reads_the_same(store: Store) -> None:
    now = time.time()
    wid = keys.watch_id(TENANT, "batch_body")
    event = replace(event_for(wid, "batch_body", ("ep_a",), now), body=json.dumps(BIG_DATA))
    [[did]] = store.scripts.create_events([event], retention_s=60, lease_until=now)

    assert store.redis.object("encoding", store.keys.event(event.id)) == "listpack"
    assert store.stored_events([event.id])[0].body == event.body
    assert store.get_event(TENANT, event.id)["payload"] == BIG_DATA
    assert store.load_delivery_jobs([did])[0].body == event.body

    older = replace(event, id=new_event_id(wid), body='{"old": 1}')
    store.scripts.create_events([older], retention_s=60, lease_until=now)
    key = store.keys.event(older.id)
    store.redis.hdel(key, *[f for f in store.redis.hkeys(key) if f.startswith("body:")])
    store.redis.hset(key, "body", "z:" + base64.b64encode(zlib.compress(b'{"old": 1}')).decode())
    assert store.get_event(TENANT, older.id)["payload"] == {"old": 1}
    assert store.stored_events([older.id])[0].body == '{"old": 1}'


def test_a_body_of_more_fields_than_one_write_takes_reads_back_whole(store: Store) -> None:
    """_events.lua writes a body 100 fields a call: one of several hundred fields (random,
    so deflating keeps it long) comes back as it went in, still compact."""
    now = time.time()
    wid = keys.watch_id(TENANT, "batch_long_body")
    body = json.dumps({"metadata": {f"k{n}": secrets.token_urlsafe(48) for n in range(250)}})
    event = replace(event_for(wid, "batch_long_body", ("ep_a",), now), body=body)
    store.scripts.create_events([event], retention_s=60, lease_until=now)

    key = store.keys.event(event.id)
    assert len([f for f in store.redis.hkeys(key) if f.startswith("body:")]) > 200
    assert store.redis.object("encoding", key) == "listpack"
    assert store.stored_events([event.id])[0].body == body


def test_recording_attempts_touches_only_their_keys(server: RedisServer, store: Store) -> None:
    now = time.time()
    event = new_event(
        tenant=TENANT, event_type="webhook.test", data={}, endpoint_ids=("ep_1", "ep_2", "ep_3"),
        now=now,
    )  # fmt: skip
    store.create_event(event)
    d1, d2, d3 = (keys.delivery_id(event.id, ep) for ep in ("ep_1", "ep_2", "ep_3"))
    earlier = now - 120  # an attempt is counted in its own minute, not the recording's
    attempts = [
        AttemptDone(d1, {"status": 500, "at": earlier}, "retry", now + 5, attempted=True),
        AttemptDone(d2, {"status": 500}, "failed", None, attempted=True),
        AttemptDone(d3, {"error": "refused"}, "retry", now + 5, attempted=False),
        AttemptDone(keys.delivery_id("evt_gone", "ep_gone"), {}, "succeeded", None, attempted=True),
    ]

    recorded: list[Any] = []
    found = touched_by(server, lambda: recorded.extend(store.record_attempts(attempts)))
    succeeded = touched_by(
        server,
        lambda: store.record_attempts([AttemptDone(d1, {"status": 200}, "succeeded", None, True)]),
    )

    assert_confined(found, store.keys)
    assert_confined(succeeded, store.keys)
    assert [r.failures for r in recorded] == [1, 1, 0, 0]
    assert store.keys.endpoint_failed("ep_2") in found.changed
    assert store.keys.endpoint_health("ep_1") in succeeded.changed  # the run of failures ended
    minute, before = int(now // 60), int(earlier // 60)
    assert store.keys.endpoint_minute("ep_1", before) in found.changed
    assert store.keys.endpoint_minute("ep_3", minute) not in found.changed  # refused: no attempt
    assert 0 < store.redis.ttl(store.keys.endpoint_minute("ep_1", minute)) <= 3 * 3600 + 120
    counted = {
        ep: [(m["succeeded"], m["failed"]) for m in store.endpoint_activity(ep, now=now, minutes=3)]
        for ep in ("ep_1", "ep_2", "ep_3", "ep_gone")
    }
    assert counted == {
        "ep_1": [(0, 1), (0, 0), (1, 0)],
        "ep_2": [(0, 0), (0, 0), (0, 1)],
        "ep_3": [(0, 0), (0, 0), (0, 0)],
        "ep_gone": [(0, 0), (0, 0), (1, 0)],  # the endpoint answered, whatever the delivery
    }


def test_attempts_recorded_together_count_as_if_recorded_one_by_one(
    server: RedisServer, store: Store
) -> None:
    """One endpoint's attempts of events in several partitions, in one call: its run of
    failures grows attempt by attempt and ends at the success, each attempt counted in
    its own minute, and each delivery's state is its own attempt's."""
    now = time.time()
    events: list[NewEvent] = []
    while len(events) < 6 or len({store.keys.partition(e.id) for e in events}) < min(
        2, store.keys.partitions
    ):  # a few of them in another partition, where there are several
        events = [*events[-5:], new_event(tenant=TENANT, event_type="webhook.test", data={},
                                          endpoint_ids=("ep_1",), now=now)]  # fmt: skip
    for event in events:
        store.create_event(event)
    d = [keys.delivery_id(event.id, "ep_1") for event in events]
    earlier = now - 120
    attempts = [
        AttemptDone(d[0], {"status": 500, "at": earlier}, "retry", now + 5, attempted=True),
        AttemptDone(d[1], {"status": 500}, "retry", now + 5, attempted=True),
        AttemptDone(d[2], {"error": "refused"}, "failed", None, attempted=False),
        AttemptDone(d[3], {"status": 500}, "failed", None, attempted=True),
        AttemptDone(d[4], {"status": 200}, "succeeded", None, attempted=True),
        AttemptDone(d[5], {"status": 500}, "retry", now + 5, attempted=True),
    ]

    recorded: list[Any] = []
    found = touched_by(server, lambda: recorded.extend(store.record_attempts(attempts)))

    assert_confined(found, store.keys)
    assert [r.failures for r in recorded] == [1, 2, 0, 3, 0, 1]
    assert [r.failing_since is not None for r in recorded] == [True, True, False, True, False,
                                                               True]  # fmt: skip
    assert [job.state for job in store.load_delivery_jobs(d)] == [
        "pending", "pending", "failed", "failed", "succeeded", "pending",
    ]  # fmt: skip
    activity = store.endpoint_activity("ep_1", now=now, minutes=3)
    assert [(m["succeeded"], m["failed"]) for m in activity] == [(0, 1), (0, 0), (1, 3)]
    stats = store.stats()
    assert (stats["attempts_retry"], stats["attempts_failed"], stats["attempts_succeeded"]) == (
        3, 2, 1,
    )  # fmt: skip


def test_call_budgets_pauses_and_deferred_polls_touch_only_their_keys(
    server: RedisServer, store: Store
) -> None:
    now = time.time()
    reg = registration("batch_b1", now)
    store.scripts.register_watches([reg])

    conn = store.create_connection(TENANT, provider="openai", base_url="https://api.openai.com/v1",
                                   api_key="sk-x", headers={}, params=None, webhook_secret=None,
                                   watch_all=False)  # fmt: skip

    def budget() -> None:
        store.pause_connection("conn_paused", until=now + 30, now=now)
        store.pause_connection(conn.id, until=now + 10, now=now)
        store.pause_connection(conn.id, until=now + 20, now=now + 1)  # grows: the same pause
        store.take_call_budget(
            {"conn_a": 3, "conn_paused": 2}, calls_per_second=2, now=now, queue=True
        )
        store.defer_polls({reg.watch_id: now + 10, keys.watch_id(TENANT, "gone"): now + 10})

    found = touched_by(server, budget)

    assert_confined(found, store.keys)
    assert store.keys.connection_pauses("conn_paused") not in found.changed  # no such connection
    shown = store.get_connection(TENANT, conn.id, with_activity=True).public()
    assert (shown["rate_limit_pauses"], shown["last_paused_at"]) == (1, pytest.approx(now))
    assert shown["paused_until"] == pytest.approx(now + 20)
    allowances = store.take_call_budget(
        {"conn_a": 3, "conn_paused": 1}, calls_per_second=2, now=now
    )
    assert allowances["conn_a"].granted == 0  # this second's two calls went already
    assert allowances["conn_paused"].paused_until == pytest.approx(now + 30)
    assert store.get_watch(TENANT, "batch_b1").next_poll_at == pytest.approx(now + 10)


def test_a_connections_queue_gives_each_claim_the_places_after_the_last(store: Store) -> None:
    """Two workers' claims in one second, then a claim with budget the next second: the
    second queues after the first, and the third, granted, still waits behind both."""
    now = float(int(time.time())) + 0.1

    def claim(wanted: int, at: float, conn: str = "conn_q") -> tuple[int, int | None]:
        allowance = store.take_call_budget({conn: wanted}, calls_per_second=2, now=at, queue=True)
        return allowance[conn].granted, allowance[conn].first_slot

    first = claim(5, now)
    second = claim(3, now + 0.2)
    later = claim(2, now + 1)

    assert first == (2, (int(now) + 1) * 2)  # two now; five places from the next second
    assert second == (0, (int(now) + 1) * 2 + 5)
    assert later == (2, (int(now) + 1) * 2 + 8)
    assert claim(1, now, conn="conn_spare") == (1, None)  # nothing waits: no queue


def test_sweeping_finished_watches_touches_only_their_keys(
    server: RedisServer, store: Store
) -> None:
    now = time.time()
    ended, restarted = registration("batch_s1", now), registration("batch_s2", now)
    store.scripts.register_watches([ended, restarted])
    store.record_polls(
        [completed(ended.watch_id, None, now), completed(restarted.watch_id, None, now)]
    )
    store.redis.delete(store.keys.watch(ended.watch_id))  # its retention ran out
    store.redis.hset(store.keys.watch(restarted.watch_id), "watching", 1)  # watched again
    later = now + store.retention_s + 1

    found = touched_by(server, lambda: store.sweep_finished(later))

    assert_confined(found, store.keys)
    assert [w.batch_id for w in store.list_watches(TENANT)] == ["batch_s2"]
    assert store.redis.exists(store.keys.watch(restarted.watch_id))
    assert store.sweep_finished(later) == 0


def test_a_watch_redis_has_not_expired_yet_is_swept_once_it_has(store: Store) -> None:
    """A sweeper whose clock runs ahead of Redis's (another host's) finds a stopped watch
    due whose hash Redis still holds: it stays listed until the hash is gone, then leaves
    the tenant's index with it, never staying there without its watch."""
    now = time.time()
    reg = registration("batch_clock", now)
    store.scripts.register_watches([reg])
    store.record_polls([completed(reg.watch_id, None, now)])
    ahead = now + store.retention_s + 1  # the hash's expiry is still ahead for Redis

    assert store.sweep_finished(ahead) == 0
    assert [w.batch_id for w in store.list_watches(TENANT)] == ["batch_clock"]

    store.redis.delete(store.keys.watch(reg.watch_id))  # Redis expires it
    assert store.sweep_finished(ahead) == 1
    index = store.keys.tenant_watches(TENANT, store.keys.partition(reg.watch_id))
    assert store.redis.zrange(index, 0, -1) == []
    assert store.redis.zcard(store.keys.finished(store.keys.partition(reg.watch_id))) == 0


def test_subscriber_and_token_scripts_touch_only_their_keys(
    server: RedisServer, store: Store
) -> None:
    now = time.time()
    ep = store.create_endpoint(TENANT, url="https://example.com/h", events=["batch.completed"],
                               description="", secret="whsec_x", rate_limit=1)  # fmt: skip
    store.redis.hset(
        store.keys.endpoint_health("ep_open"), mapping={"failures": 9, "open_until": 0}
    )
    token = store.create_token(TENANT)

    def subscribers() -> None:
        store.admit_deliveries({ep.id: 3, "ep_open": 2}, now=now, threshold=5,
                               default_rate_per_s=10, probe_lease_s=30)  # fmt: skip
        store.disable_endpoint_once(ep.id, "410 Gone", now=now)
        store.disable_endpoint_once("ep_missing", "410 Gone", now=now)
        store.authenticate(token, per_minute=10, now=now)
        store.authenticate("bh_unknown", per_minute=10, now=now)
        store.claim_deliveries(now=now, lease_until=now + 60, limit=10)

    found = touched_by(server, subscribers)

    assert_confined(found, store.keys)
    assert store.get_endpoint(TENANT, ep.id).disabled


def test_the_watch_sees_a_key_a_script_was_not_given(server: RedisServer, store: Store) -> None:
    sly = store.redis.register_script(
        "redis.call('GET', KEYS[1]); redis.call('SET', 'not-given', 1); return 1"
    )

    found = touched_by(server, lambda: sly(keys=["given"]))

    assert found.declared == {"given"}
    assert found.accessed == {"given", "not-given"}
    assert found.changed == {"not-given"}


def test_calls_that_find_their_script_missing_load_it_and_run_once(
    server: RedisServer,
) -> None:
    raw = redis.Redis.from_url(server.url, decode_responses=True)
    client = typed(raw)
    counter = f"script-test-{id(client)}"
    bump = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    echo = client.register_script("return 'seen ' .. ARGV[1]")
    raw.script_flush()  # as after a restart: Redis knows no script
    calls: list[Call[Any]] = [
        Call(bump, [counter], [2], int),
        Call(echo, [], ["x"], str),
        Call(bump, [counter], [3], int),
    ]

    answers = run_scripts(client, calls)

    assert answers == [2, "seen x", 5]
    assert raw.get(counter) == "5"  # each call ran once, not once more after the reload
    assert run_scripts(client, [Call(echo, [], ["y"], str)]) == ["seen y"]
    raw.close()


def test_commands_sent_after_the_calls_see_every_call_done_when_one_was_run_again(
    server: RedisServer,
) -> None:
    raw = redis.Redis.from_url(server.url, decode_responses=True)
    client = typed(raw)
    counter = f"script-test-after-{id(client)}"
    kept = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    lost = client.register_script("return tonumber(redis.call('INCRBY', KEYS[1], ARGV[1]))")
    raw.script_flush()
    client.script_load(kept.script)  # one script survives, the other is run again
    calls = [Call(kept, [counter], [10], int), Call(lost, [counter], [2], int)]

    answers, after = run_scripts_then(client, calls, lambda pipe: pipe.get(counter))

    assert answers == [10, 12]
    assert after == ["12"]  # read behind the call run again, not behind the first try
    assert raw.get(counter) == "12"
    raw.close()


def test_a_failing_call_raises(server: RedisServer) -> None:
    raw = redis.Redis.from_url(server.url, decode_responses=True)
    client = typed(raw)
    broken = client.register_script("return redis.call('INCRBY', KEYS[1], 'not a number')")

    with pytest.raises(redis.ResponseError, match="not an integer"):
        run_scripts(client, [Call(broken, ["script-test-broken"], [], int)])
    raw.close()


def test_a_ticks_claim_takes_what_is_due_of_each_kind_leased_as_asked(
    server: RedisServer, store: Store
) -> None:
    now = time.time()
    for batch_id, first_poll_at in [("batch_now", now - 1), ("batch_soon", now + 0.4),
                                    ("batch_later", now + 30)]:  # fmt: skip
        store.register_watch(TENANT, batch_id=batch_id, connection_id="conn_1",
                             endpoint_ids=None, metadata={}, poll_interval_s=None,
                             first_poll_at=first_poll_at)  # fmt: skip
    outbox = store.keys.outbox(store.keys.partition(keys.watch_id(TENANT, "batch_now")))
    store.redis.zadd(outbox, {"del_due": now - 1, "del_later": now + 30})
    store.redis.zadd(keys.DISCOVER, {"conn_due": now - 1, "conn_later": now + 30})
    claimed: list[DueWork] = []

    found = touched_by(
        server,
        lambda: claimed.append(
            store.claim_due_work(
                polls=ClaimAt(now + 0.5, now + 300), deliveries=ClaimAt(now, now + 60), limit=10
            )
        ),
    )

    assert_confined(found, store.keys)
    [due] = claimed
    wids = [keys.watch_id(TENANT, b) for b in ("batch_now", "batch_soon")]
    assert sorted(due.polls) == sorted(wids)  # the lookahead takes the one due in 0.4 s
    assert due.deliveries == ["del_due"] and due.discoveries == ["conn_due"]
    assert [store.redis.zscore(store.keys.due_of(w), w) for w in wids] == [now + 300] * 2
    assert store.redis.zscore(outbox, "del_due") == now + 60
    assert store.redis.zscore(keys.DISCOVER, "conn_due") == now + 300  # leased as a poll
    again = store.claim_due_work(ClaimAt(now + 0.5, now + 300), ClaimAt(now, now + 60), 10)
    assert again == DueWork([], [], [])


def test_a_store_without_redis_raises_store_unavailable() -> None:
    with RedisServer() as gone:
        url = gone.url
    client = redis_client(url)  # nothing listens there any more
    store = Store(client, Vault(TEST_SECRET_KEY))

    with pytest.raises(StoreUnavailable) as raised:
        store.list_watches(TENANT)
    with pytest.raises(StoreUnavailable):
        store.record_polls([completed(keys.watch_id(TENANT, "b"), None, time.time())])
    with pytest.raises(StoreUnavailable):
        store.claim_polls(now=0, lease_until=1, limit=1)

    assert isinstance(raised.value.__cause__, redis.ConnectionError)
    assert not store.ping()
    client.close()


@pytest.mark.parametrize("door", [Store, Scripts])
def test_every_public_store_operation_is_behind_the_door(door: type) -> None:
    """Each raises StoreUnavailable, never redis-py's own exceptions (client.Guarded)."""
    operations = {
        name: member
        for name, member in inspect.getmembers(door, inspect.isfunction)
        if not name.startswith("_")
    }

    assert len(operations) > (40 if door is Store else 10)
    assert [name for name, op in operations.items() if not hasattr(op, "__wrapped__")] == []
