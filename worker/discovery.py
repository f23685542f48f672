"""Watch a whole account: a ``watch_all`` connection finds its batches itself.

tick claims due connections from ``keys.DISCOVER`` -> ``discover`` -> the provider's list
call (newest first, one call per page of up to 100 batches, within the connection's
call budget) -> every unseen batch is registered for all the tenant's endpoints (unless
it had already finished before the connection was made, or was made longer ago than the
retention, or the tenant stopped watching it) -> every listed batch that is watched is
recorded as polled, exactly as a retrieve would be, and its own retrieve is pushed back
while the list keeps covering it. One list page thus replaces up to 100 single
retrieves; batches older than the pages listed keep their own polls. A round that
listed is recorded on the connection (``last_discovery`` in the API).
"""

from __future__ import annotations

import time

import structlog

from worker import keys
from worker.errors import ProviderError
from worker.models import Connection, Discovery, Snapshot, Watch
from worker.poller import Created, PollLimits, record_results
from worker.providers import PollClient, list_batches
from worker.records import frozen
from worker.store import Store

log = structlog.get_logger()

PAGE_LIMIT = 100
MAX_PAGES = 10
# A batch the list covers gets its own retrieve only if this many discovery rounds pass
# without a list (the provider's list call failing, say).
COVERED_ROUNDS = 3


@frozen
class DiscoveryOutcome:
    listed: int
    registered: int
    deliveries: Created


async def discover(
    store: Store,
    client: PollClient,
    connection_id: str,
    limits: PollLimits,
    interval_s: float,
) -> DiscoveryOutcome:
    """One discovery round of a watch_all connection; reschedules the next one."""
    conn = store.connections_by_id({connection_id}).get(connection_id)
    if conn is None or not conn.watch_all:
        store.stop_discovery(connection_id)
        return DiscoveryOutcome(0, 0, {})
    bound = log.bind(connection_id=conn.id)
    try:
        snapshots, pages = await _list_recent(store, client, conn, limits)
    except ProviderError as exc:
        retry_s = max(interval_s * 4, exc.retry_after_s or 0.0)
        if exc.status_code == 429:
            store.pause_connection(conn.id, until=time.time() + retry_s, now=time.time())
        bound.warning("discovery_failed", error=str(exc), retry_in_s=retry_s)
        store.schedule_discovery(conn.id, at=time.time() + retry_s)
        return DiscoveryOutcome(0, 0, {})
    listed_at = time.time()
    outcome = _record_listed(store, conn, snapshots, limits, interval_s, listed_at)
    if pages:  # a round the call budget allowed no list call is no listing
        store.record_discovery(conn.id, Discovery(listed_at, outcome.listed, outcome.registered))
    store.schedule_discovery(conn.id, at=time.time() + interval_s)
    if outcome.registered:
        bound.info("batches_discovered", listed=outcome.listed, registered=outcome.registered)
    return outcome


async def _list_recent(
    store: Store, client: PollClient, conn: Connection, limits: PollLimits
) -> tuple[list[Snapshot], int]:
    """The newest pages, until a page holds nothing new or unfinished; and how many
    pages were listed."""
    snapshots: list[Snapshot] = []
    cursor: str | None = None
    since = news_since(conn, store.retention_s, time.time())
    pages = 0
    for _ in range(MAX_PAGES):
        allowance = store.take_call_budget(
            {conn.id: 1}, calls_per_second=limits.calls_per_second, now=time.time()
        )[conn.id]
        if allowance.granted == 0:
            break  # the rest waits for the next round
        page = await list_batches(
            client, conn, cursor=cursor, limit=PAGE_LIMIT, timeout_s=limits.timeout_s
        )
        pages += 1
        snapshots += page.snapshots
        if page.next_cursor is None or not any(_worth_watching(s, since) for s in page.snapshots):
            break
        cursor = page.next_cursor
    return snapshots, pages


def _worth_watching(snapshot: Snapshot, since: float) -> bool:
    """Unfinished, or finished but made since ``since`` (so its ending is news)."""
    created = snapshot.created_at
    return not snapshot.is_terminal or (created is not None and created >= since)


def news_since(conn: Connection, retention_s: float, now: float) -> float:
    """Since when a finished batch's ending is news: made before the connection, it
    finished before anyone asked; made more than the retention ago, it was listed while
    it ran, and its watch (with its events) has since been forgotten: watching it again
    would send its ending a second time, under a new id."""
    return max(conn.created_at, now - retention_s)


def _record_listed(
    store: Store,
    conn: Connection,
    snapshots: list[Snapshot],
    limits: PollLimits,
    interval_s: float,
    now: float,
) -> DiscoveryOutcome:
    by_wid = {keys.watch_id(conn.tenant, s.batch_id): s for s in snapshots}
    known = {w.id for w in store.watches_by_id(list(by_wid))}
    unwatched = store.unwatched(conn.tenant, [s.batch_id for s in snapshots])
    since = news_since(conn, store.retention_s, now)
    registered = 0
    for wid, snapshot in by_wid.items():
        if wid in known or snapshot.batch_id in unwatched or not _worth_watching(snapshot, since):
            continue
        store.register_watch(
            conn.tenant,
            batch_id=snapshot.batch_id,
            connection_id=conn.id,
            endpoint_ids=None,
            metadata={},
            poll_interval_s=None,
            first_poll_at=now + COVERED_ROUNDS * interval_s,  # this listing is its first poll
        )
        registered += 1
    covered = [
        w for w in store.watches_by_id(list(by_wid)) if w.watching and w.connection_id == conn.id
    ]
    deliveries = _record_covered(store, conn, covered, by_wid, limits, interval_s, now)
    return DiscoveryOutcome(len(snapshots), registered, deliveries)


def _record_covered(
    store: Store,
    conn: Connection,
    covered: list[Watch],
    by_wid: dict[str, Snapshot],
    limits: PollLimits,
    interval_s: float,
    now: float,
) -> Created:
    """Record the listed snapshots as polls and push back the covered batches' retrieves."""
    results: list[Snapshot | ProviderError] = [by_wid[w.id] for w in covered]
    records, deliveries = record_results(store, covered, results, {conn.id: conn}, now, limits)
    covered_until = now + COVERED_ROUNDS * interval_s
    store.defer_polls(
        {
            r.watch_id: max(r.next_poll_at, covered_until)
            for r in records
            if r.next_poll_at is not None
        }
    )
    return deliveries
