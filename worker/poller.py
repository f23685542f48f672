"""Poll one chunk of claimed batches concurrently and record the results in pipelines.

claim (beat tick) -> ``poll_chunk`` -> each connection's call budget (shared in Redis;
what it cannot afford now is deferred, untouched) -> provider ``retrieve`` (concurrent)
-> ``transitions`` (pure) -> ``store.record_polls`` (the changes read in one turn of
the event loop together, at the start of the next; the unchanged in one pipeline of Lua
calls at the end) -> the delivery jobs of the events created, for their first attempt
at once. A 429 pauses every poll of its connection until the provider's
``Retry-After``, not just the batch that got it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from worker import keys, metrics
from worker.concurrency import map_bounded
from worker.errors import Permanent, ProviderError, ProviderRejected, ProviderUnavailable
from worker.models import UNKNOWN_STATUS, Connection, Endpoint, PollRecord, Snapshot, Watch
from worker.providers import PollClient, retrieve
from worker.records import frozen
from worker.signals import DEFAULT_STALL, StallThresholds
from worker.store import Allowance, DeliveryJob, Store, new_delivery_jobs
from worker.transitions import changes_status, plan_error, plan_snapshot

log = structlog.get_logger()

Result = Snapshot | ProviderError


async def _poll_one(client: PollClient, conn: Connection, watch: Watch, timeout_s: float) -> Result:
    try:
        return await retrieve(client, conn, watch.batch_id, timeout_s=timeout_s)
    except ProviderError as exc:
        return exc


def _missing_connection(watch: Watch) -> ProviderError:
    return ProviderRejected(
        f"connection {watch.connection_id} was deleted", batch_id=watch.batch_id
    )


def _creates_event(watch: Watch, result: Result) -> bool:
    if isinstance(result, Snapshot):
        return changes_status(watch, result)
    return isinstance(result, Permanent)


def _plan(
    watch: Watch,
    result: Result,
    conns: dict[str, Connection],
    endpoints: dict[str, list[Endpoint]],
    now: float,
    limits: PollLimits,
) -> PollRecord:
    conn = conns.get(watch.connection_id)
    provider = conn.provider if conn else "unknown"
    tenant_endpoints = endpoints.get(watch.tenant, [])
    if isinstance(result, Snapshot):
        return plan_snapshot(
            watch, result, provider=provider, endpoints=tenant_endpoints, now=now,
            stall=limits.stall,
        )  # fmt: skip
    return plan_error(
        watch,
        result,
        provider=provider,
        endpoints=tenant_endpoints,
        now=now,
        not_found_grace_s=limits.not_found_grace_s,
    )


@frozen
class PollLimits:
    timeout_s: float
    concurrency: int
    calls_per_second: int = 0  # per connection; 0: no limit
    rate_limit_pause_s: float = 10.0
    not_found_grace_s: float = 0.0  # how long a 404 batch is retried before watch_failed
    stall: StallThresholds = DEFAULT_STALL  # when batch.stalled is sent


@dataclass
class BudgetPlan:
    """Which claimed watches poll now, and when the others (and, under overload, the
    polled ones too) come back: a queue per connection, shared by every worker in Redis,
    one window per second, so every batch gets its turn when there are more batches
    than budget."""

    allowed: list[Watch] = field(default_factory=list)
    deferred: dict[str, float] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)


# A queued poll comes back this far into its one-second window, past the tick's
# lookahead, so the claim happens inside the window whose budget it waits for.
WINDOW_OFFSET_S = 0.5


def _queue_slot_at(slot: int, calls_per_second: int) -> float:
    return slot // calls_per_second + WINDOW_OFFSET_S


def plan_budget(
    conn_watches: list[Watch], allowance: Allowance, calls_per_second: int
) -> BudgetPlan:
    """Oldest polled first into the allowance; the queue slots go to those left waiting,
    then to the polled ones, which so wait behind them (and behind earlier claims')."""
    ordered = sorted(conn_watches, key=lambda w: w.last_polled_at or 0.0)  # oldest first
    plan = BudgetPlan(allowed=ordered[: allowance.granted])
    waiting = ordered[allowance.granted :]
    if allowance.paused_until is not None:
        for watch in waiting:
            plan.deferred[watch.id] = allowance.paused_until + random.uniform(0.0, 1.0)  # noqa: S311
        return plan
    if allowance.first_slot is None:
        return plan
    for offset, watch in enumerate(waiting + plan.allowed):
        at = _queue_slot_at(allowance.first_slot + offset, calls_per_second)
        target = plan.deferred if offset < len(waiting) else plan.not_before
        target[watch.id] = at
    return plan


def _within_budget(
    store: Store, watches: list[Watch], limits: PollLimits, now: float
) -> BudgetPlan:
    """The watches whose connection can afford a call now; the others are deferred."""
    by_conn: dict[str, list[Watch]] = defaultdict(list)
    for watch in watches:
        by_conn[watch.connection_id].append(watch)
    allowances = store.take_call_budget(
        {cid: len(ws) for cid, ws in by_conn.items()},
        calls_per_second=limits.calls_per_second,
        now=now,
        queue=True,
    )
    plan = BudgetPlan()
    for cid, conn_watches in by_conn.items():
        one = plan_budget(conn_watches, allowances[cid], limits.calls_per_second)
        plan.allowed += one.allowed
        plan.deferred.update(one.deferred)
        plan.not_before.update(one.not_before)
    if plan.deferred:
        store.defer_polls(plan.deferred)
        log.info("polls_deferred", count=len(plan.deferred), connections=len(by_conn))
    return plan


def _queue_behind(store: Store, records: list[PollRecord], not_before: dict[str, float]) -> None:
    """Under overload, a batch just polled waits behind those deferred for budget."""
    later = {
        r.watch_id: not_before[r.watch_id]
        for r in records
        if r.watch_id in not_before
        and r.next_poll_at is not None
        and r.next_poll_at < not_before[r.watch_id]
    }
    if later:
        store.defer_polls(later)


def _pause_rate_limited(
    store: Store, watches: list[Watch], results: list[Result], limits: PollLimits, now: float
) -> None:
    """Hold back every batch of a connection that answered 429, until its Retry-After."""
    pauses: dict[str, float] = {}
    for watch, result in zip(watches, results, strict=True):
        if isinstance(result, ProviderUnavailable) and result.status_code == 429:
            until = now + (result.retry_after_s or limits.rate_limit_pause_s)
            pauses[watch.connection_id] = max(until, pauses.get(watch.connection_id, 0.0))
    for cid, until in pauses.items():
        if store.pause_connection(cid, until=until, now=now):
            log.warning("connection_rate_limited", connection_id=cid, paused_for_s=until - now)


Created = dict[str, list[DeliveryJob]]  # first attempts of the deliveries created, per watch


async def poll_chunk(
    store: Store,
    client: PollClient,
    watch_ids: list[str],
    limits: PollLimits,
    on_created: Callable[[Created], None] = lambda created: None,
) -> Created:
    """Poll the given watches; returns the first attempts of the deliveries created.

    A status change is recorded in the turn of the event loop after its answer is read,
    with the other changes read in that turn, and its deliveries are handed to
    ``on_created`` at once, so a change waits for no other batch's answer; the unchanged
    are recorded together, in one round trip, at the end."""
    watches = [w for w in store.watches_by_id(watch_ids) if w.watching]
    conns = store.connections_by_id({w.connection_id for w in watches})
    budget = _within_budget(store, watches, limits, time.time())
    watches = budget.allowed
    store.observe(metrics.SCHEDULE_LAG, schedule_lags(watches, time.time()))

    records: list[PollRecord] = []
    created: Created = {}
    endpoints = EndpointsCache(store)

    def record_changes(read: list[tuple[Watch, Result]]) -> None:
        recorded, new = record_results(store, *_unzip(read), conns, time.time(), limits, endpoints)
        records.extend(recorded)
        created.update(new)
        on_created(new)

    changes = ChangesOfOneTurn(record_changes)

    async def one(watch: Watch) -> Result:
        conn = conns.get(watch.connection_id)
        if conn is None:
            result: Result = _missing_connection(watch)
        else:
            result = await _poll_one(client, conn, watch, limits.timeout_s)
        if _creates_event(watch, result):  # recorded in the next turn: it waits for no one
            changes.add(watch, result)
        return result

    results = await map_bounded(one, watches, limits.concurrency)
    changes.flush()  # whatever the last turn read, and any failure to record it
    now = time.time()
    rest = [(w, r) for w, r in zip(watches, results, strict=True) if not _creates_event(w, r)]
    recorded, new = record_results(store, *_unzip(rest), conns, now, limits, endpoints)
    records += recorded
    created.update(new)  # signals of unchanged batches (progress, ...): attempted now too
    on_created(new)
    _pause_rate_limited(store, watches, results, limits, now)
    _queue_behind(store, records, budget.not_before)
    return created


class ChangesOfOneTurn:
    """Status changes read in one turn of the event loop, recorded together at the start
    of the next: a change waits for no other batch's answer, and the answers that arrive
    together (a chunk's usually do) share one round trip to Redis."""

    def __init__(self, record: Callable[[list[tuple[Watch, Result]]], None]) -> None:
        self.record = record
        self.read: list[tuple[Watch, Result]] = []
        self.failure: Exception | None = None

    def add(self, watch: Watch, result: Result) -> None:
        if not self.read:
            asyncio.get_running_loop().call_soon(self._record_read)
        self.read.append((watch, result))

    def _record_read(self) -> None:
        read, self.read = self.read, []
        if not read or self.failure is not None:
            return
        try:
            self.record(read)
        except Exception as exc:  # raised by flush(), in the chunk's own task
            self.failure = exc

    def flush(self) -> None:
        self._record_read()
        if self.failure is not None:
            raise self.failure


def _unzip(pairs: list[tuple[Watch, Result]]) -> tuple[list[Watch], list[Result]]:
    return [w for w, _ in pairs], [r for _, r in pairs]


class EndpointsCache:
    """Each tenant's endpoints, read from the store once per chunk."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.by_tenant: dict[str, list[Endpoint]] = {}

    def of(self, tenants: set[str]) -> dict[str, list[Endpoint]]:
        for tenant in tenants - self.by_tenant.keys():
            self.by_tenant[tenant] = self.store.list_endpoints(tenant)
        return {t: self.by_tenant[t] for t in tenants}


def record_results(
    store: Store,
    watches: list[Watch],
    results: list[Result],
    conns: dict[str, Connection],
    now: float,
    limits: PollLimits,
    endpoints: EndpointsCache | None = None,
) -> tuple[list[PollRecord], Created]:
    """Record what each watch's poll found in one round trip; returns the records and
    the first attempts to make of the deliveries created, per watch id."""
    if not watches:
        return [], {}
    tenants = {  # every answer may signal (progress, ...), an error only when it is final
        w.tenant
        for w, r in zip(watches, results, strict=True)
        if isinstance(r, Snapshot) or _creates_event(w, r)
    }
    subscribers = (endpoints or EndpointsCache(store)).of(tenants)
    records = [
        _plan(w, r, conns, subscribers, now, limits) for w, r in zip(watches, results, strict=True)
    ]
    outcomes = store.record_polls(records)
    for watch, record in zip(watches, records, strict=True):
        outcome, _ = outcomes[watch.id]
        _log_outcome(watch, record, outcome)
    return records, _created_jobs(records, outcomes, subscribers)


def _created_jobs(
    records: list[PollRecord],
    outcomes: dict[str, tuple[str, list[str]]],
    subscribers: dict[str, list[Endpoint]],
) -> Created:
    endpoints = {ep.id: ep for tenant_endpoints in subscribers.values() for ep in tenant_endpoints}
    created: Created = {}
    for record in records:
        _, delivery_ids = outcomes[record.watch_id]
        if not delivery_ids:
            continue
        made = [*([record.event] if record.event else []), *record.signals]
        jobs = created.setdefault(record.watch_id, [])
        for event in made:
            of_event = [d for d in delivery_ids if keys.split_delivery_id(d)[0] == event.id]
            jobs += new_delivery_jobs(event, of_event, endpoints)
    return created


def schedule_lags(watches: list[Watch], now: float) -> list[float]:
    """How late each poll starts after its due time (a poll made early, on an inbound
    webhook, is not late)."""
    return [max(0.0, now - w.next_poll_at) for w in watches if w.next_poll_at is not None]


def _log_outcome(watch: Watch, record: PollRecord, outcome: str) -> None:
    ids = {"batch_id": watch.batch_id, "watch_id": watch.id}
    if record.summary and record.summary.get("normalized_status") == UNKNOWN_STATUS:
        log.warning("batch_status_unknown", **ids, status=record.status)
    if record.error is not None:
        log.warning("batch_poll_failed", **ids, error=record.error, outcome=outcome)
    elif outcome == "changed":
        log.info(
            "batch_status_changed",
            **ids,
            previous_status=watch.status,
            status=record.status,
            event_id=record.event.id if record.event else None,
        )
