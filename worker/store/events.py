"""Events, their deliveries to endpoints, every attempt, and the outbox that drives them."""

from __future__ import annotations

import heapq
import time
from typing import Any

from worker import keys
from worker.errors import NotFound
from worker.models import Endpoint, NewEvent
from worker.records import frozen
from worker.store.base import Page, dumps, float_or_none, loads_or, page_of
from worker.store.bodies import body_of
from worker.store.scripts import AttemptDone, AttemptRecorded
from worker.store.subscribers import SubscribersMixin

__all__ = [
    "AttemptDone",
    "AttemptRecorded",
    "DeliveryJob",
    "EventsMixin",
    "IndexedEvent",
    "StoredEvent",
    "new_delivery_jobs",
]

IndexedEvent = tuple[float, str]  # (score: created_at, event id): the tenant index's order


@frozen
class StoredEvent:
    """An event as stored: what the event stream sends."""

    id: str
    type: str
    created_at: float
    body: str


@frozen
class DeliveryJob:
    """Everything one attempt needs: the delivery, its event body and its endpoint."""

    delivery_id: str
    event_id: str
    batch_id: str | None  # None for webhook.test events
    event_type: str
    body: str
    state: str
    round_attempts: int
    endpoint: Endpoint | None
    endpoint_id: str
    event_created_at: float


def new_delivery_jobs(
    event: NewEvent, delivery_ids: list[str], endpoints: dict[str, Endpoint]
) -> list[DeliveryJob]:
    """The jobs of deliveries just created with ``event`` (pending, no attempt yet), made
    from what their creator holds rather than read back from Redis."""
    jobs = []
    for did in delivery_ids:
        endpoint_id = keys.split_delivery_id(did)[1]
        jobs.append(
            DeliveryJob(
                delivery_id=did,
                event_id=event.id,
                batch_id=event.batch_id or None,
                event_type=event.type,
                body=event.body,
                state="pending",
                round_attempts=0,
                endpoint=endpoints.get(endpoint_id),
                endpoint_id=endpoint_id,
                event_created_at=float(event.created_at),
            )
        )
    return jobs


class EventsMixin(SubscribersMixin):
    def create_event(self, event: NewEvent) -> list[str]:
        """Write an event outside the poll path; its deliveries are due at once."""
        [created] = self.scripts.create_events(
            [event], retention_s=self.retention_s, lease_until=time.time()
        )
        return created

    def get_event(self, tenant: str, event_id: str) -> dict[str, Any]:
        raw = self.redis.hgetall(self.keys.event(event_id))
        if not raw or raw.get("tenant") != tenant:
            raise NotFound(f"no event {event_id!r}")
        return self._event_view(raw)

    def list_events(
        self,
        tenant: str,
        *,
        batch_id: str | None = None,
        event_type: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        return self.page_events(tenant, batch_id=batch_id, event_type=event_type, limit=limit).data

    def page_events(
        self,
        tenant: str,
        *,
        batch_id: str | None = None,
        event_type: str | None = None,
        starting_after: str | None = None,
        limit: int = 100,
    ) -> Page[dict[str, Any]]:
        """The tenant's events (of one batch, of one type), newest first, ``limit`` after
        ``starting_after``. Only the page's events are read whole, with their deliveries;
        the filter reads each candidate's type alone."""
        if batch_id is not None:
            wid = keys.watch_id(tenant, batch_id)
            ids = list(reversed(self.watch_event_ids(wid)))
        else:
            indexes = [self.keys.tenant_events(tenant, p) for p in self.keys.all_partitions()]
            ids = self.merged_index(indexes, newest_first=True)
        return self._page_of_events(ids, event_type, starting_after, limit)

    def watch_details(
        self, wid: str, *, limit: int = 100
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A watch's history, oldest first, and its latest ``limit`` events, newest first
        (as ``list_events`` of its batch): one round trip while it has no events."""
        history, event_ids = self.history_and_event_ids(wid)
        return history, self.latest_events(event_ids, limit=limit)

    def latest_events(self, event_ids: list[str], *, limit: int = 100) -> list[dict[str, Any]]:
        """The latest ``limit`` of a watch's events (``event_ids`` oldest first), newest
        first; no round trip for none."""
        return self._page_of_events(list(reversed(event_ids)), None, None, limit).data

    def _page_of_events(
        self, ids: list[str], event_type: str | None, starting_after: str | None, limit: int
    ) -> Page[dict[str, Any]]:
        """The page of ``ids`` (newest first) after ``starting_after``, of one type."""

        def kept(run: list[str]) -> list[str]:
            pipe = self.redis.pipeline(transaction=False)
            for eid in run:
                pipe.hget(self.keys.event(eid), "type")
            return [
                eid
                for eid, found in zip(run, pipe.execute(), strict=True)
                if found is not None and (event_type is None or found == event_type)
            ]

        page = page_of(ids, starting_after=starting_after, limit=limit, load=kept, what="event")
        pipe = self.redis.pipeline(transaction=False)
        for eid in page.data:
            pipe.hgetall(self.keys.event(eid))
        views = [self._event_view(raw) for raw in pipe.execute() if raw]
        return Page(views, page.has_more)

    # the event stream -------------------------------------------------------
    def event_position(self, tenant: str, event_id: str) -> IndexedEvent:
        """Where one of the tenant's events stands in its index; ``NotFound`` for an id
        the tenant has not (or no longer) got."""
        index = self.keys.tenant_events(tenant, self.keys.partition(event_id))
        pipe = self.redis.pipeline(transaction=False)
        pipe.zmscore(index, [event_id])
        [[score]] = pipe.execute()
        if score is None:
            raise NotFound(f"no event {event_id!r}")
        return float(score), event_id

    def indexed_events_since(self, tenant: str, min_score: float) -> list[IndexedEvent]:
        """The tenant's events scored ``min_score`` or later, in (score, id) order: ids
        only, from every partition."""
        runs = []
        for p in self.keys.all_partitions():
            found = self.redis.zrangebyscore(
                self.keys.tenant_events(tenant, p), min_score, "+inf", withscores=True
            )
            runs.append([(float(score), str(eid)) for eid, score in found])
        return list(heapq.merge(*runs))

    def stored_events(self, ids: list[str]) -> list[StoredEvent]:
        """The events of these ids still kept, in the order given."""
        pipe = self.redis.pipeline(transaction=False)
        for eid in ids:
            pipe.hgetall(self.keys.event(eid))
        found = [(eid, raw, body_of(raw)) for eid, raw in zip(ids, pipe.execute(), strict=True)]
        return [
            StoredEvent(id=eid, type=raw["type"], created_at=float(raw["created_at"]), body=body)
            for eid, raw, body in found
            if "type" in raw and body is not None
        ]

    def _event_view(self, raw: dict[str, str]) -> dict[str, Any]:
        eid = raw["id"]
        endpoint_ids = loads_or(raw.get("endpoint_ids"), [])
        return {
            "id": eid,
            "object": "event",
            "type": raw["type"],
            "created_at": int(float(raw["created_at"])),
            "batch_id": raw.get("batch_id") or None,
            "payload": loads_or(body_of(raw), {}),
            "deliveries": [self._delivery_view(keys.delivery_id(eid, ep)) for ep in endpoint_ids],
        }

    def _delivery_view(self, did: str) -> dict[str, Any]:
        raw = self.redis.hgetall(self.keys.delivery(did))
        listed = self.redis.lrange(self.keys.delivery_attempts(did), 0, -1)
        attempts = [loads_or(a, {}) for a in listed]
        endpoint_id = keys.split_delivery_id(did)[1]
        return {
            "endpoint_id": endpoint_id,
            "state": raw.get("state", "expired"),
            "next_attempt_at": float_or_none(raw.get("next_attempt_at")),
            "deferred": raw.get("deferred") or None,
            "attempts": attempts,
        }

    def redeliver(self, tenant: str, event_id: str, endpoint_id: str | None) -> list[str]:
        """Queue a fresh round of attempts, keeping the event id; returns delivery ids."""
        raw = self.redis.hgetall(self.keys.event(event_id))
        if not raw or raw.get("tenant") != tenant:
            raise NotFound(f"no event {event_id!r}")
        targets = [endpoint_id] if endpoint_id else loads_or(raw.get("endpoint_ids"), [])
        now = time.time()
        pipe = self.redis.pipeline()
        dids = []
        for ep in targets:
            did = keys.delivery_id(event_id, ep)
            self.queue_round(pipe, did, event_id, ep, now)
            dids.append(did)
        if endpoint_id and endpoint_id not in loads_or(raw.get("endpoint_ids"), []):
            listed = [*loads_or(raw.get("endpoint_ids"), []), endpoint_id]
            pipe.hset(self.keys.event(event_id), "endpoint_ids", dumps(listed))
        pipe.execute()
        return dids

    def load_delivery_jobs(self, dids: list[str]) -> list[DeliveryJob]:
        pipe = self.redis.pipeline(transaction=False)
        for did in dids:
            event_id = keys.split_delivery_id(did)[0]
            pipe.hgetall(self.keys.delivery(did))
            pipe.hgetall(self.keys.event(event_id))
        answers = pipe.execute()
        pairs = list(zip(dids, answers[0::2], answers[1::2], strict=True))
        endpoint_ids = sorted({keys.split_delivery_id(did)[1] for did in dids})
        endpoints = self.endpoints_by_id(endpoint_ids)
        jobs = []
        for did, delivery, event in pairs:
            body = body_of(event)
            if not delivery or body is None:
                self.redis.zrem(self.keys.outbox_of(did), did)
                continue
            endpoint_id = delivery["endpoint_id"]
            jobs.append(
                DeliveryJob(
                    delivery_id=did,
                    event_id=delivery["event_id"],
                    batch_id=event.get("batch_id") or None,
                    event_type=event["type"],
                    body=body,
                    state=delivery["state"],
                    round_attempts=int(delivery.get("round_attempts") or 0),
                    endpoint=endpoints.get(endpoint_id),
                    endpoint_id=endpoint_id,
                    event_created_at=float(event.get("created_at") or 0),
                )
            )
        return jobs

    def record_attempts(self, attempts: list[AttemptDone]) -> list[AttemptRecorded]:
        """Record attempts in one round trip (``attempted`` is False for one refused
        without a request); returns the endpoint's run of failures after each."""
        return self.scripts.record_attempts(attempts, now=time.time(), retention_s=self.retention_s)

    def pending_deliveries(self, limit: int = 1000) -> list[tuple[str, float]]:
        """The deliveries next due, soonest first, from every partition's outbox."""
        outboxes = [self.keys.outbox(p) for p in self.keys.all_partitions()]
        return self.merged(outboxes, limit=limit)
