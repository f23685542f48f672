"""Watched batches: registration, the due schedule and the atomic record of each poll."""

from __future__ import annotations

import time
from typing import Any

from worker import keys
from worker.errors import NotFound
from worker.jsoncodec import loads
from worker.models import PollRecord, Watch
from worker.records import frozen
from worker.store.base import (
    Page,
    StoreBase,
    dumps,
    float_or_none,
    loads_or,
    page_of,
    queue_beat_wake,
)
from worker.store.calls import run_scripts_then
from worker.store.client import Pipeline
from worker.store.scripts import SUMMARY_FIELD, WatchRegistration

NORMALIZED_STATUS = f"{SUMMARY_FIELD}normalized_status"
HISTORY_FIELD, EVENT_FIELD = "h:", "e:"  # see add_history and add_watch_event in _events.lua


def _history_from(raw: dict[str, str]) -> list[dict[str, Any]]:
    """The watch hash's history entries (``h:<n>`` = [status, at, event id]), in order."""
    cut = len(HISTORY_FIELD)
    numbered = sorted((int(k[cut:]), v) for k, v in raw.items() if k.startswith(HISTORY_FIELD))
    entries = []
    for _, value in numbered:
        status, at, event_id = loads(value)
        entries.append({"status": status, "at": at} | ({"event_id": event_id} if event_id else {}))
    return entries


def _event_ids_from(raw: dict[str, str]) -> list[str]:
    """The ids of the watch's events (``e:<id>`` = n), oldest first."""
    cut = len(EVENT_FIELD)
    numbered = sorted((int(v), k[cut:]) for k, v in raw.items() if k.startswith(EVENT_FIELD))
    return [eid for _, eid in numbered]


def _event_ids(listed: list[str], raw: dict[str, str]) -> list[str]:
    """The watch's event ids, oldest first: those of its list of before, then its hash's."""
    return list(dict.fromkeys([str(e) for e in listed] + _event_ids_from(raw)))


def _history_and_event_ids(
    history_listed: list[str], events_listed: list[str], raw: dict[str, str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The watch's history and event ids, from its lists of before and its hash."""
    history = [loads_or(item, {}) for item in history_listed] + _history_from(raw)
    return history, _event_ids(events_listed, raw)


@frozen
class RegisteredWatch:
    """A registration's outcome, with what the API shows of the watch besides itself."""

    watch: Watch
    created: bool  # False: it was watched already
    history: list[dict[str, Any]]
    event_ids: list[str]  # oldest first


def _summary_from(raw: dict[str, str]) -> dict[str, Any]:
    """The summary of a watch hash: its ``s:`` fields, or the one JSON field that
    watches recorded before this layout still hold."""
    if "summary" in raw:
        return dict(loads_or(raw["summary"], {}))
    cut = len(SUMMARY_FIELD)
    return {k[cut:]: loads(v) for k, v in raw.items() if k.startswith(SUMMARY_FIELD)}


def _watched(raw: dict[str, str], batch_id: str) -> Watch:
    """The watch a hash holds; NotFound when there is none."""
    if not raw:
        raise NotFound(f"batch {batch_id!r} is not watched")
    return watch_from(raw)


def _normalized_status(field: str | None, old_summary: str | None) -> Any:
    """The normalised status from its summary field (or an older watch's summary)."""
    return loads_or(field, None) or loads_or(old_summary, {}).get("normalized_status")


def watch_from(raw: dict[str, str]) -> Watch:
    endpoint_ids = loads_or(raw.get("endpoint_ids"), None)
    return Watch(
        id=raw["id"],
        tenant=raw["tenant"],
        batch_id=raw["batch_id"],
        connection_id=raw["connection_id"],
        endpoint_ids=tuple(endpoint_ids) if endpoint_ids is not None else None,
        metadata=loads_or(raw.get("metadata"), {}),
        poll_interval_s=float_or_none(raw.get("poll_interval_s")),
        status=raw.get("status") or None,
        watching=raw.get("watching") == "1",
        created_at=float(raw["created_at"]),
        next_poll_at=float_or_none(raw.get("next_poll_at")),
        last_polled_at=float_or_none(raw.get("last_polled_at")),
        errors=int(raw.get("errors") or 0),
        last_error=raw.get("last_error", ""),
        snapshot=loads_or(raw.get("snapshot"), None),
        summary=_summary_from(raw),
        status_changed_at=float_or_none(raw.get("status_changed_at")),
        not_found_since=float_or_none(raw.get("not_found_since")),
        backoff_errors=int(raw.get("backoff_errors") or 0),
    )


class WatchesMixin(StoreBase):
    def register_watch(
        self,
        tenant: str,
        *,
        batch_id: str,
        connection_id: str,
        endpoint_ids: list[str] | None,
        metadata: dict[str, Any],
        poll_interval_s: float | None,
        first_poll_at: float | None = None,
        wake_beat: bool = False,
    ) -> RegisteredWatch:
        """Start watching (first poll at once, unless given): the watch, whether it was
        newly created, and its history and event ids (what the API answers with), read
        back in the same round trip. ``wake_beat``: wake beat in that round trip too
        (``StoreBase.wake_beat``)."""
        now = time.time()
        registration = WatchRegistration(
            tenant=tenant,
            batch_id=batch_id,
            connection_id=connection_id,
            endpoint_ids=endpoint_ids,
            metadata=metadata,
            poll_interval_s=poll_interval_s,
            now=now,
            first_poll_at=now if first_poll_at is None else first_poll_at,
        )
        wid = registration.watch_id

        def read_back(pipe: Pipeline) -> None:
            pipe.zrem(keys.tenant_unwatched(tenant), batch_id)
            pipe.srem(keys.tenant_unwatched_untimed(tenant), batch_id)
            pipe.lrange(self.keys.watch_history(wid), 0, -1)
            pipe.lrange(self.keys.watch_events(wid), 0, -1)
            pipe.hgetall(self.keys.watch(wid))
            if wake_beat:
                queue_beat_wake(pipe)

        calls = self.scripts.register_calls([registration])
        [created], read = run_scripts_then(self.redis, calls, read_back)
        _, _, history_listed, events_listed, raw = read[:5]
        watch = _watched(raw, batch_id)  # gone again only if deleted by another call meanwhile
        history, event_ids = _history_and_event_ids(history_listed, events_listed, raw)
        return RegisteredWatch(watch, created, history, event_ids)

    def get_watch(self, tenant: str, batch_id: str) -> Watch:
        return _watched(
            self.redis.hgetall(self.keys.watch(keys.watch_id(tenant, batch_id))), batch_id
        )

    def watches_by_id(self, ids: list[str]) -> list[Watch]:
        pipe = self.redis.pipeline(transaction=False)
        for wid in ids:
            pipe.hgetall(self.keys.watch(wid))
        return [watch_from(raw) for raw in pipe.execute() if raw]

    def list_watches(self, tenant: str) -> list[Watch]:
        """The tenant's watches, oldest registration first, from every partition."""
        indexes = [self.keys.tenant_watches(tenant, p) for p in self.keys.all_partitions()]
        return self.watches_by_id(self.merged_index(indexes))

    def page_watches(
        self,
        tenant: str,
        *,
        starting_after: str | None = None,
        limit: int = 100,
        status: str | None = None,
        connection_id: str | None = None,
    ) -> Page[Watch]:
        """The tenant's watches in ``list_watches``' order, ``limit`` after the one of the
        batch ``starting_after`` (a batch id, as the API shows them); only those of a
        normalised ``status`` and of a ``connection_id`` when given (filtered before the
        page is cut: each candidate's two fields are read alone, the page's watches whole)."""
        indexes = [self.keys.tenant_watches(tenant, p) for p in self.keys.all_partitions()]
        wids = self.merged_index(indexes)
        after = None if starting_after is None else keys.watch_id(tenant, starting_after)
        if status is None and connection_id is None:
            return page_of(
                wids,
                starting_after=after,
                limit=limit,
                load=self.watches_by_id,
                what="batch",
                shown_as=starting_after,
            )

        def kept(run: list[str]) -> list[str]:
            return self._matching(run, status=status, connection_id=connection_id)

        page = page_of(
            wids,
            starting_after=after,
            limit=limit,
            load=kept,
            what="batch",
            shown_as=starting_after,
        )
        return Page(self.watches_by_id(page.data), page.has_more)

    def _matching(
        self, wids: list[str], *, status: str | None, connection_id: str | None
    ) -> list[str]:
        """The watches still there of a normalised ``status`` and a ``connection_id``
        (None: any), in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for wid in wids:
            pipe.hmget(self.keys.watch(wid), "connection_id", NORMALIZED_STATUS, "summary")
        return [
            wid
            for wid, (conn, *stored) in zip(wids, pipe.execute(), strict=True)
            if conn is not None
            and connection_id in (None, conn)
            and status in (None, _normalized_status(*stored))
        ]

    def history_and_event_ids(self, wid: str) -> tuple[list[dict[str, Any]], list[str]]:
        """The watch's statuses as they changed and the ids of its events, oldest first,
        in one round trip: those a watch kept in lists of its own before, then its hash's."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.lrange(self.keys.watch_history(wid), 0, -1)
        pipe.lrange(self.keys.watch_events(wid), 0, -1)
        pipe.hgetall(self.keys.watch(wid))
        return _history_and_event_ids(*pipe.execute())

    def watch_event_ids(self, wid: str) -> list[str]:
        """The ids of the watch's events, oldest first (a list of their own before)."""
        listed, raw = self._watch_and_list(wid, self.keys.watch_events(wid))
        return _event_ids(listed, raw)

    def _watch_and_list(self, wid: str, listed: str) -> tuple[list[str], dict[str, str]]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.lrange(listed, 0, -1)
        pipe.hgetall(self.keys.watch(wid))
        items, raw = pipe.execute()
        return [str(item) for item in items], raw

    def delete_watch(self, tenant: str, batch_id: str, *, remember: bool = True) -> None:
        """Stop watching; ``remember`` keeps account discovery from watching it again."""
        watch = self.get_watch(tenant, batch_id)
        pipe = self.redis.pipeline()
        if remember:
            self._remember_unwatched(pipe, tenant, batch_id)
        p = self.keys.partition(watch.id)
        pipe.zrem(self.keys.due(p), watch.id)
        pipe.zrem(self.keys.finished(p), keys.finished_member(watch.id, tenant))
        pipe.zrem(self.keys.tenant_watches(tenant, p), watch.id)
        ks = self.keys
        for key in (ks.watch(watch.id), ks.watch_history(watch.id), ks.watch_events(watch.id)):
            pipe.delete(key)  # one key a command: a Cluster pipeline's rule
        pipe.execute()

    def _remember_unwatched(self, pipe: Pipeline, tenant: str, batch_id: str) -> None:
        """Kept for the retention: a batch made longer ago that discovery still lists has
        finished (``discovery.news_since``), so it would not be watched again anyway."""
        key, now = keys.tenant_unwatched(tenant), time.time()
        pipe.zadd(key, {batch_id: now})
        pipe.zremrangebyscore(key, "-inf", now - self.retention_s)
        pipe.expire(key, self.retention_s)

    def sweep_finished(self, now: float, limit: int = 1000) -> int:
        """Drop watches whose retention ran out from their tenant's index (their keys
        expired by themselves), and the tenant's events older than the retention."""
        forgotten = 0
        for p in self.keys.all_partitions():
            finished = self.keys.finished(p)
            members = self.redis.zrangebyscore(finished, "-inf", now, start=0, num=limit)
            if members:
                forgotten += self.scripts.sweep_finished(
                    p, [str(m) for m in members], now=now, retention_s=self.retention_s
                )
        return forgotten

    def claim_now(self, wids: list[str], *, lease_until: float) -> list[str]:
        """Claim watched batches for a poll right away (inbound provider webhooks)."""
        pipe = self.redis.pipeline(transaction=False)
        for wid in wids:
            pipe.zadd(self.keys.due_of(wid), {wid: lease_until}, xx=True, ch=True)
        return [wid for wid, changed in zip(wids, pipe.execute(), strict=True) if changed == 1]

    def poll_now(self, wids: list[str]) -> list[str]:
        """Make watched batches due at once (inbound provider webhooks); returns those due."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        for wid in wids:
            pipe.zadd(self.keys.due_of(wid), {wid: now}, xx=True, ch=True)
        return [wid for wid, changed in zip(wids, pipe.execute(), strict=True) if changed == 1]

    def record_polls(self, records: list[PollRecord]) -> dict[str, tuple[str, list[str]]]:
        """Write every poll of a chunk in one round trip.

        Returns, per watch id, the script's outcome ('changed', 'unchanged', 'conflict',
        'retry', 'failed', 'stopped') and the delivery ids it created.
        """
        answers = self.scripts.record_polls(
            records, retention_s=self.retention_s, lease_s=self.delivery_lease_s
        )
        return {
            rec.watch_id: (answer.outcome, answer.delivery_ids)
            for rec, answer in zip(records, answers, strict=True)
        }

    def results_summary(self, wid: str) -> dict[str, Any] | None:
        """The counts of the watched batch's result files, once made."""
        raw = self.redis.hget(self.keys.watch(wid), "results_summary")
        found = loads_or(raw, None)
        return found if isinstance(found, dict) else None

    def save_results_summary(self, wid: str, summary: dict[str, Any]) -> None:
        """Keep the counts on the watch, for as long as the watch is kept (a watch that
        has expired meanwhile is not brought back)."""
        key = self.keys.watch(wid)
        if self.redis.hget(key, "id") is not None:
            self.redis.hset(key, "results_summary", dumps(summary))
