"""Poll one chunk of claimed batches concurrently and record every result at once.

claim (beat tick) -> ``poll_chunk`` -> provider ``retrieve`` (concurrent) ->
``transitions`` (pure) -> ``store.record_polls`` (one pipeline of Lua calls) ->
delivery ids of the events created, for their first attempt.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import structlog

from worker.errors import Permanent, ProviderError, ProviderRejected
from worker.models import UNKNOWN_STATUS, Connection, Endpoint, PollRecord, Snapshot, Watch
from worker.providers import retrieve
from worker.store import Store
from worker.transitions import changes_status, plan_error, plan_snapshot

log = structlog.get_logger()

Result = Snapshot | ProviderError


async def _poll_one(
    client: httpx.AsyncClient,
    semaphore: asyncio.Semaphore,
    conn: Connection,
    watch: Watch,
    timeout_s: float,
) -> Result:
    async with semaphore:
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
) -> PollRecord:
    conn = conns.get(watch.connection_id)
    provider = conn.provider if conn else "unknown"
    tenant_endpoints = endpoints.get(watch.tenant, [])
    if isinstance(result, Snapshot):
        return plan_snapshot(watch, result, provider=provider, endpoints=tenant_endpoints, now=now)
    return plan_error(watch, result, provider=provider, endpoints=tenant_endpoints, now=now)


async def poll_chunk(
    store: Store,
    client: httpx.AsyncClient,
    watch_ids: list[str],
    *,
    timeout_s: float,
    concurrency: int,
) -> dict[str, list[str]]:
    """Poll the given watches; returns the created delivery ids per watch id."""
    watches = [w for w in store.watches_by_id(watch_ids) if w.watching]
    conns = store.connections_by_id({w.connection_id for w in watches})
    semaphore = asyncio.Semaphore(concurrency)

    async def one(watch: Watch) -> Result:
        conn = conns.get(watch.connection_id)
        if conn is None:
            return _missing_connection(watch)
        return await _poll_one(client, semaphore, conn, watch, timeout_s)

    results = list(await asyncio.gather(*(one(w) for w in watches)))
    now = time.time()
    tenants = {w.tenant for w, r in zip(watches, results, strict=True) if _creates_event(w, r)}
    endpoints = {t: store.list_endpoints(t) for t in tenants}
    records = [_plan(w, r, conns, endpoints, now) for w, r in zip(watches, results, strict=True)]
    outcomes = store.record_polls(records)
    for watch, record in zip(watches, records, strict=True):
        outcome, _ = outcomes[watch.id]
        _log_outcome(watch, record, outcome)
    return {wid: deliveries for wid, (_, deliveries) in outcomes.items()}


def _log_outcome(watch: Watch, record: PollRecord, outcome: str) -> None:
    bound = log.bind(batch_id=watch.batch_id, watch_id=watch.id)
    if record.summary and record.summary.get("normalized_status") == UNKNOWN_STATUS:
        bound.warning("batch_status_unknown", status=record.status)
    if record.error is not None:
        bound.warning("batch_poll_failed", error=record.error, outcome=outcome)
    elif outcome == "changed":
        bound.info(
            "batch_status_changed",
            previous_status=watch.status,
            status=record.status,
            event_id=record.event.id if record.event else None,
        )
