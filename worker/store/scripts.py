"""One typed wrapper per Lua script in ``worker/lua``: the only code that knows a
script's ``KEYS`` and ``ARGV`` order.

Each script is given every key it touches as ``KEYS``, each name built by the
deployment's ``keys.Keyspace``; no script makes a key name itself, and no call's keys span
two Redis Cluster slots. A wrapper takes typed values and answers typed
values; the ones on the hot paths (record a poll, record an attempt, defer a poll,
register many watches, create many events) take a sequence and send every call in one
round trip (``calls.run_scripts``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from redis.commands.core import Script

from worker import jsoncodec, keys
from worker.health import Admission
from worker.keys import Keyspace
from worker.models import NewEvent, PollRecord
from worker.records import frozen
from worker.store.bodies import pack_body
from worker.store.calls import Arg, Call, lua, run_scripts
from worker.store.client import Client, Guarded

dumps = jsoncodec.dumps_sorted  # how the store writes a JSON value


SUMMARY_FIELD = "s:"  # each summary entry is a field of its own: see record_polls.lua


def summary_fields(summary: dict[str, Any]) -> dict[str, str]:
    """A poll's summary as the watch hash keeps it: one short field per entry."""
    return {f"{SUMMARY_FIELD}{name}": dumps(value) for name, value in summary.items()}


def float_or_none(raw: str | None) -> float | None:
    return float(raw) if raw not in (None, "") else None


# What the scripts take and answer ------------------------------------------------------
@frozen
class WatchRegistration:
    tenant: str
    batch_id: str
    connection_id: str
    endpoint_ids: Sequence[str] | None  # None: every endpoint of the tenant
    metadata: Mapping[str, Any]
    poll_interval_s: float | None
    now: float
    first_poll_at: float

    @property
    def watch_id(self) -> str:
        return keys.watch_id(self.tenant, self.batch_id)


@frozen
class PollOutcome:
    outcome: str  # 'changed', 'unchanged', 'conflict', 'retry', 'failed' or 'stopped'
    delivery_ids: list[str]  # the deliveries of the event it created


@frozen
class AttemptDone:
    """One attempt to record: what happened, and when the delivery is due again."""

    delivery_id: str
    record: dict[str, Any]
    outcome: str  # 'succeeded', 'retry' or 'failed'
    next_attempt_at: float | None
    attempted: bool
    event_created_at: float = 0.0  # where the endpoint's failed index files it (recover)

    def attempted_at(self, default: float) -> float:
        """When the attempt was made: its record's ``at`` (``default`` without one)."""
        at = self.record.get("at")
        return float(at) if isinstance(at, int | float) and not isinstance(at, bool) else default


@frozen
class AttemptRecorded:
    """The endpoint's run of failures after an attempt (0 and None once it succeeds)."""

    failures: int
    failing_since: float | None


@frozen
class Allowance:
    granted: int
    paused_until: float | None
    # The first of the connection's queue slots given to the claimed calls (those waiting
    # first, then the granted ones), one per call, ``calls_per_second`` a second; None
    # when nothing waits.
    first_slot: int | None = None


@frozen
class Authenticated:
    tenant: str | None  # None: no such token
    retry_after_s: int  # > 0: over its requests per minute


def event_args(event: NewEvent, *, retention_s: int, lease_until: float) -> list[Arg]:
    """The fields ``event_from_argv`` in ``_events.lua`` reads, in its order."""
    return [
        event.id, event.tenant, event.watch_id, event.batch_id, event.type, event.created_at,
        pack_body(event.body), dumps(list(event.endpoint_ids)), retention_s, lease_until,
    ]  # fmt: skip


class Claim(NamedTuple):
    """Take up to ``limit`` members of each schedule due by ``now``, leased until
    ``lease_until`` (``Scripts.claim_due_groups``)."""

    schedule_keys: Sequence[str]
    now: float
    lease_until: float
    limit: int


def _strings(answer: Any) -> list[str]:
    return [str(a) for a in answer]


def _admission(answer: Any) -> Admission:
    granted, retry_at, rate, reason = answer
    return Admission(
        granted=int(granted), retry_at=float(retry_at), rate_per_s=int(rate), reason=str(reason)
    )


def _poll_outcome(answer: Any) -> PollOutcome:
    outcome, *deliveries = _strings(answer)
    return PollOutcome(outcome, deliveries)


def _poll_outcomes(answer: Any) -> list[PollOutcome]:
    return [_poll_outcome(one) for one in answer]


def _next_poll_at(rec: PollRecord) -> Arg:
    return rec.next_poll_at if rec.next_poll_at is not None else ""


def _attempts_recorded(answer: Any) -> list[AttemptRecorded]:
    return [
        AttemptRecorded(int(failures), float_or_none(str(failing_since)))
        for failures, failing_since in answer
    ]


def _nothing(answer: Any) -> None:
    """A call whose answer the caller does not need."""


class Scripts(Guarded):
    """The scripts, registered on one client, each behind its typed wrapper."""

    def __init__(self, client: Client, keyspace: Keyspace) -> None:
        self.client = client
        self.keys = keyspace
        register = client.register_script
        self._claim_due = register(lua("claim_due"))
        self._register_watch = register(lua("register_watch"))
        self._record_polls = register(lua("record_polls", with_events=True))
        self._record_poll_error = register(lua("record_poll_error", with_events=True))
        self._create_event = register(lua("create_event", with_events=True))
        self._record_attempts = register(lua("record_attempts", with_counts=True))
        self._record_endpoint_attempts = register(lua("record_endpoint_attempts", with_counts=True))
        self._take_call_budget = register(lua("take_call_budget"))
        self._pause_connection = register(lua("pause_connection"))
        self._defer_poll = register(lua("defer_poll"))
        self._sweep_finished = register(lua("sweep_finished"))
        self._admit_deliveries = register(lua("admit_deliveries"))
        self._disable_endpoint = register(lua("disable_endpoint"))
        self._authenticate = register(lua("authenticate"))

    def _one(self, script: Script, keys_: Sequence[str], args: Sequence[Arg]) -> Any:
        return script(keys=keys_, args=args)

    # key lists shared by several scripts ----------------------------------------
    def _event_keys(self, event: NewEvent) -> list[str]:
        """The keys ``create_event`` in ``_events.lua`` writes, in its order: all in the
        event's partition, which is its watch's."""
        ks, p = self.keys, self.keys.partition(event.id)
        if event.watch_id and ks.partition(event.watch_id) != p:
            raise ValueError(f"event {event.id} is not in its watch's partition")
        event_keys = [ks.event(event.id), ks.tenant_events(event.tenant, p), ks.outbox(p)]
        event_keys.append(ks.stats(p))
        if event.watch_id:
            event_keys.append(ks.watch(event.watch_id))
        event_keys += [ks.delivery(keys.delivery_id(event.id, ep)) for ep in event.endpoint_ids]
        return event_keys

    def _watch_keys(self, wid: str) -> list[str]:
        """A poll's first six KEYS in record_polls and record_poll_error (``finish_watch``
        uses 1-3 and 6)."""
        ks, p = self.keys, self.keys.partition(wid)
        return [
            ks.watch(wid), ks.watch_history(wid), ks.watch_events(wid),
            ks.due(p), ks.stats(p), ks.finished(p),
        ]  # fmt: skip

    def claim_due(
        self, schedule_keys: Sequence[str], *, now: float, lease_until: float, limit: int
    ) -> list[str]:
        """Take up to ``limit`` due members of each schedule zset (one round trip), leased
        until ``lease_until``."""
        [claimed] = self.claim_due_groups([Claim(schedule_keys, now, lease_until, limit)])
        return claimed

    def claim_due_groups(self, claims: Sequence[Claim]) -> list[list[str]]:
        """``claim_due`` for each claim, all in one round trip; each claim's members."""
        calls = [
            Call(self._claim_due, [key], [c.now, c.lease_until, c.limit], _strings)
            for c in claims
            for key in c.schedule_keys
        ]
        answers = iter(run_scripts(self.client, calls))
        return [[member for _ in c.schedule_keys for member in next(answers)] for c in claims]

    def register_watches(self, registrations: Sequence[WatchRegistration]) -> list[bool]:
        """Start each watch unless it exists (one round trip); True where it was created."""
        return run_scripts(self.client, self.register_calls(registrations))

    def register_calls(self, registrations: Sequence[WatchRegistration]) -> list[Call[bool]]:
        """The calls ``register_watches`` sends, for a round trip that carries more."""
        calls = []
        for reg in registrations:
            wid, p = reg.watch_id, self.keys.partition(reg.watch_id)
            watch_keys = self._watch_keys(wid)
            endpoint_ids = dumps(list(reg.endpoint_ids)) if reg.endpoint_ids is not None else ""
            fields: list[Arg] = [
                "id", wid, "tenant", reg.tenant, "batch_id", reg.batch_id,
                "connection_id", reg.connection_id, "endpoint_ids", endpoint_ids,
                "metadata", dumps(dict(reg.metadata)),
                "poll_interval_s", reg.poll_interval_s if reg.poll_interval_s is not None else "",
            ]  # fmt: skip
            calls.append(
                Call(
                    self._register_watch,
                    [*watch_keys[:3], self.keys.tenant_watches(reg.tenant, p), watch_keys[3]],
                    [wid, reg.now, reg.first_poll_at, *fields],
                    bool,
                )
            )
        return calls

    def record_polls(
        self, records: Sequence[PollRecord], *, retention_s: int, lease_s: float
    ) -> list[PollOutcome]:
        """Record each poll (one round trip): a new status with its event, or an error.
        The successful polls of one partition go in one script call; each error in its own."""
        calls: list[Call[list[PollOutcome]]] = []
        placed: list[list[int]] = []  # the records each call answers for, in its order
        by_partition: dict[int, list[int]] = {}
        for index, rec in enumerate(records):
            if rec.error is None:
                by_partition.setdefault(self.keys.partition(rec.watch_id), []).append(index)
            else:
                calls.append(self._poll_error_call(rec, retention_s, lease_s))
                placed.append([index])
        for indexes in by_partition.values():
            calls.append(self._polls_call([records[i] for i in indexes], retention_s, lease_s))
            placed.append(indexes)
        outcomes: dict[int, PollOutcome] = {}
        for indexes, answers in zip(placed, run_scripts(self.client, calls), strict=True):
            outcomes.update(zip(indexes, answers, strict=True))
        return [outcomes[index] for index in range(len(records))]

    def _polls_call(
        self, records: list[PollRecord], retention_s: int, lease_s: float
    ) -> Call[list[PollOutcome]]:
        """One call of record_polls.lua for successful polls of one partition."""
        all_keys: list[str] = []
        all_args: list[Arg] = []
        for rec in records:
            record_keys, event = self._record_keys_and_events(rec, retention_s, lease_s)
            args: list[Arg] = [
                rec.expected_status or "", rec.status or "", rec.now, _next_poll_at(rec),
                dumps(rec.snapshot) if rec.snapshot is not None else "",
                dumps(summary_fields(rec.summary or {})), retention_s,
                keys.finished_member(rec.watch_id, rec.tenant), rec.watch_id,
                int(rec.event is not None), len(rec.signals), *event,
            ]  # fmt: skip
            all_keys += record_keys
            all_args += [len(record_keys), len(args), *args]
        return Call(self._record_polls, all_keys, all_args, _poll_outcomes)

    def _poll_error_call(
        self, rec: PollRecord, retention_s: int, lease_s: float
    ) -> Call[list[PollOutcome]]:
        record_keys, event = self._record_keys_and_events(rec, retention_s, lease_s)
        not_found_since = rec.not_found_since if rec.not_found_since is not None else ""
        args: list[Arg] = [
            rec.now, _next_poll_at(rec), rec.error or "", not_found_since, retention_s,
            keys.finished_member(rec.watch_id, rec.tenant), rec.watch_id, int(rec.backs_off),
            *event,
        ]  # fmt: skip
        return Call(self._record_poll_error, record_keys, args, lambda a: [_poll_outcome(a)])

    def _record_keys_and_events(
        self, rec: PollRecord, retention_s: int, lease_s: float
    ) -> tuple[list[str], list[Arg]]:
        """A poll's keys (its watch's, then each event's) and its events' arguments."""
        record_keys = self._watch_keys(rec.watch_id)
        event: list[Arg] = []
        for one in (rec.event, *rec.signals) if rec.event is not None else rec.signals:
            record_keys += self._event_keys(one)
            event += event_args(one, retention_s=retention_s, lease_until=rec.now + lease_s)
        return record_keys, event

    def create_events(
        self, events: Sequence[NewEvent], *, retention_s: int, lease_until: float
    ) -> list[list[str]]:
        """Write events outside the poll path (one round trip); each one's delivery ids."""
        calls = [
            Call(
                self._create_event,
                self._event_keys(event),
                event_args(event, retention_s=retention_s, lease_until=lease_until),
                _strings,
            )
            for event in events
        ]
        return run_scripts(self.client, calls)

    def record_attempts(
        self, attempts: Sequence[AttemptDone], *, now: float, retention_s: int
    ) -> list[AttemptRecorded]:
        """Record attempts (one round trip): each on its delivery, in its partition, and on
        its endpoint's health, in the endpoint's slot, with one script call per partition
        and one per endpoint; the endpoint's run of failures after each attempt. (A
        delivery that expired meanwhile records nothing; its endpoint's health still
        counts the answer it gave.)"""
        by_partition: dict[int, list[AttemptDone]] = {}
        by_endpoint: dict[str, list[int]] = {}
        for index, done in enumerate(attempts):
            by_partition.setdefault(self.keys.partition(done.delivery_id), []).append(done)
            endpoint_id = keys.split_delivery_id(done.delivery_id)[1]
            by_endpoint.setdefault(endpoint_id, []).append(index)
        calls: list[Call[Any]] = [
            self._partition_attempts_call(p, done, now=now) for p, done in by_partition.items()
        ]
        calls += [
            self._endpoint_attempts_call(
                eid, [attempts[i] for i in indexes], now=now, retention_s=retention_s
            )
            for eid, indexes in by_endpoint.items()
        ]
        answers = run_scripts(self.client, calls)[len(by_partition) :]
        after_attempt: dict[int, AttemptRecorded] = {}
        for indexes, after in zip(by_endpoint.values(), answers, strict=True):
            after_attempt.update(zip(indexes, after, strict=True))
        return [after_attempt[index] for index in range(len(attempts))]

    def _partition_attempts_call(
        self, p: int, attempts: list[AttemptDone], *, now: float
    ) -> Call[None]:
        ks = self.keys
        attempt_keys = [ks.stats(p), ks.outbox(p), ks.failing(p)]
        args: list[Arg] = [now, keys.FAILING_KEPT]
        for done in attempts:
            did = done.delivery_id
            attempt_keys += [ks.delivery(did), ks.delivery_attempts(did)]
            next_at = done.next_attempt_at if done.next_attempt_at is not None else ""
            args += [did, dumps(done.record), done.outcome, next_at]
        return Call(self._record_attempts, attempt_keys, args, _nothing)

    def _endpoint_attempts_call(
        self, endpoint_id: str, attempts: list[AttemptDone], *, now: float, retention_s: int
    ) -> Call[list[AttemptRecorded]]:
        ks = self.keys
        endpoint_keys = [ks.endpoint_failed(endpoint_id), ks.endpoint_health(endpoint_id)]
        minute_index: dict[int, int] = {}  # each attempt counted in its own clock minute
        args: list[Arg] = [now, retention_s, keys.ENDPOINT_MINUTE_TTL_S]
        for done in attempts:
            minute = math.floor(done.attempted_at(now) / 60)
            if minute not in minute_index:
                endpoint_keys.append(ks.endpoint_minute(endpoint_id, minute))
                minute_index[minute] = len(endpoint_keys)
            args += [
                done.delivery_id, done.outcome, int(done.attempted),
                done.event_created_at or now, minute_index[minute],
            ]  # fmt: skip
        return Call(self._record_endpoint_attempts, endpoint_keys, args, _attempts_recorded)

    def take_call_budget(
        self, wanted: Mapping[str, int], *, calls_per_second: int, now: float, queue: bool
    ) -> dict[str, Allowance]:
        """How many of the wanted calls each connection may make now and, with ``queue``,
        their places in its queue (one round trip; one script call per connection, each
        in its connection's slot)."""
        second, ks = math.floor(now), self.keys
        ordered = sorted(wanted)
        calls = [
            Call(
                self._take_call_budget,
                [
                    ks.connection_paused_until(cid),
                    ks.connection_calls(cid, second),
                    ks.connection_queue(cid),
                ],
                [now, calls_per_second, int(queue), wanted[cid]],
                _strings,
            )
            for cid in ordered
        ]
        allowances: dict[str, Allowance] = {}
        answers = run_scripts(self.client, calls)
        for cid, (granted, paused, first) in zip(ordered, answers, strict=True):
            until = float(paused)
            slot = int(first)
            allowances[cid] = Allowance(
                int(granted), until if until > now else None, slot if slot >= 0 else None
            )
        return allowances

    def pause_connection(self, connection_id: str, *, until: float, now: float) -> bool:
        """Hold every poll of a connection until ``until``; True if the pause grew. A
        pause that begins is counted on the connection."""
        ks = self.keys
        pause_keys = [
            ks.connection_paused_until(connection_id),
            ks.connection(connection_id),
            ks.connection_pauses(connection_id),
        ]
        return bool(self._one(self._pause_connection, pause_keys, [until, now]))

    def defer_polls(self, next_poll_at: Mapping[str, float]) -> None:
        """Move claimed watches' next polls (one round trip); stopped watches stay."""
        ks = self.keys
        calls = [
            Call(self._defer_poll, [ks.watch(wid), ks.due_of(wid)], [wid, at], bool)
            for wid, at in next_poll_at.items()
        ]
        run_scripts(self.client, calls)

    def sweep_finished(
        self, p: int, members: Sequence[str], *, now: float, retention_s: int
    ) -> int:
        """Forget these members of partition ``p``'s ``finished`` that are still due: their
        watches leave their tenants' indexes, and the tenants' old events their event
        indexes."""
        ks, finished = self.keys, self.keys.finished(p)
        parsed = [(m, keys.parse_finished_member(m)) for m in members]
        valid = [(m, found) for m, found in parsed if found is not None]
        sweep_keys = [finished]
        args: list[Arg] = [now, retention_s, len(valid)]
        for member, (wid, tenant) in valid:
            sweep_keys += [ks.watch(wid), ks.tenant_watches(tenant, p)]
            args += [member, wid]
        sweep_keys += [ks.tenant_events(t, p) for t in sorted({found[1] for _, found in valid})]
        malformed = [m for m, found in parsed if found is None]
        if malformed:
            self.client.zrem(finished, *malformed)
        if not valid:
            return len(malformed)
        return int(self._one(self._sweep_finished, sweep_keys, args)) + len(malformed)

    def admit_deliveries(
        self,
        wanted: Mapping[str, int],
        *,
        now: float,
        threshold: int,
        default_rate_per_s: int,
        probe_lease_s: float,
    ) -> dict[str, Admission]:
        """How many claimed deliveries each endpoint takes now (circuit breaker, throttle):
        one round trip, one script call per endpoint, each in its endpoint's slot."""
        second, ks = math.floor(now), self.keys
        ordered = sorted(wanted)
        calls = [
            Call(
                self._admit_deliveries,
                [ks.endpoint(eid), ks.endpoint_health(eid), ks.endpoint_sent(eid, second)],
                [now, threshold, default_rate_per_s, probe_lease_s, wanted[eid]],
                _admission,
            )
            for eid in ordered
        ]
        return dict(zip(ordered, run_scripts(self.client, calls), strict=True))

    def disable_endpoint_once(self, endpoint_id: str, reason: str, *, now: float) -> bool:
        """True if this call disabled the endpoint (False: it already was, or is gone)."""
        key = self.keys.endpoint(endpoint_id)
        return bool(self._one(self._disable_endpoint, [key], [reason, now]))

    def authenticate(self, digest: str, *, now: float, per_minute: int) -> Authenticated:
        """The tenant of a token digest and whether it is within its requests per minute."""
        window = math.floor(now / 60)
        auth_keys = [
            self.keys.token(digest),
            self.keys.token_last_used(digest),
            self.keys.token_calls(digest, window),
        ]
        tenant, retry_after = self._one(self._authenticate, auth_keys, [now, per_minute])
        return Authenticated(str(tenant) if tenant else None, int(retry_after))
