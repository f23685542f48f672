"""GET /v1/events/stream: the tenant's events as server-sent events, resumable.

Each event is sent as ``id: <event id>``, ``event: <type>``, ``data: <its body>`` (a
terminal one with its signed result links, valid for a day, as an endpoint gets them);
a ``: keep-alive`` comment goes out after ``KEEPALIVE_S`` without one. Without
``Last-Event-ID`` (header, or ``last_event_id`` in the query) the stream starts with
the events that appear from now on; with it, every event of the tenant after that one
comes first, then the live ones.

The route polls the tenant's event index (sorted by ``created_at``, then id) every
``POLL_INTERVAL_S``. A worker writes its events at the end of a poll chunk, so an event
can enter the index seconds after its ``created_at``, behind events already sent: each
poll therefore reads the ``LOOKBACK_S`` before the newest event seen, and ``Cursor``
remembers which of those were sent, so a late one is still sent and none twice.

On resume, the named event and every event created before its second count as sent
(``created_at`` is in whole seconds, and the index orders one second's events by id,
not by their making). So the other events of that second are sent again: a client may
get one of them twice (receivers deduplicate by id, as for webhooks), and loses none.
What it does miss is an event of an earlier second that entered the index only after
the client received the named one (a late write, see above).

The route is left out of the OpenAPI document: OpenAPI 3.1 cannot describe an event
stream, and a document reader that reads each answer to its end would hang on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Annotated

import anyio
import structlog
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from worker import results
from worker.api.deps import SettingsDep, StoreDep, TenantDep
from worker.errors import InputError, NotFound, StoreUnavailable
from worker.models import EVENT_TYPES, Endpoint
from worker.settings import Settings
from worker.store import Store
from worker.store.events import IndexedEvent, StoredEvent

log = structlog.get_logger()

router = APIRouter(prefix="/v1/events")

POLL_INTERVAL_S = 0.5
KEEPALIVE_S = 15.0
LOOKBACK_S = 60.0
BODIES_PER_READ = 100
KEEPALIVE = ": keep-alive\n\n"


@dataclass
class Cursor:
    """What one connection has sent. Pure: the route feeds it what the index holds.

    ``newest_s`` is the newest score seen (the window reaches ``lookback_s`` behind it);
    ``sent`` the ids sent (or passed over) within the window; ``resumed_after``'s event
    and every one scored below it count as sent."""

    newest_s: float
    lookback_s: float = LOOKBACK_S
    resumed_after: IndexedEvent | None = None
    sent: dict[str, float] = field(default_factory=dict)

    @classmethod
    def resuming(cls, after: IndexedEvent, lookback_s: float = LOOKBACK_S) -> Cursor:
        return cls(newest_s=after[0], lookback_s=lookback_s, resumed_after=after)

    @property
    def floor_s(self) -> float:
        """The lowest score the next read needs: the resume point, or the window's start."""
        window = self.newest_s - self.lookback_s
        return min(window, self.resumed_after[0]) if self.resumed_after else window

    def unsent(self, indexed: Iterable[IndexedEvent]) -> list[IndexedEvent]:
        """The events of a read (in index order) not yet sent."""
        after = self.resumed_after
        return [
            (score, eid)
            for score, eid in indexed
            if eid not in self.sent and (after is None or (score >= after[0] and eid != after[1]))
        ]

    def mark(self, indexed: Iterable[IndexedEvent]) -> None:
        for score, eid in indexed:
            self.sent[eid] = score
            self.newest_s = max(self.newest_s, score)
        self._forget_behind_window()

    def _forget_behind_window(self) -> None:
        window = self.newest_s - self.lookback_s
        self.sent = {eid: score for eid, score in self.sent.items() if score >= window}
        if self.resumed_after and self.resumed_after[0] < window:
            self.resumed_after = None  # the reads no longer reach back to it


def parse_types(raw: str | None) -> frozenset[str] | None:
    """``types=batch.completed,batch.failed``: None for all; an unknown type is refused."""
    if raw is None:
        return None
    wanted = frozenset(t.strip() for t in raw.split(",") if t.strip())
    if not wanted:
        raise InputError("types names no event type")
    unknown = sorted(wanted - EVENT_TYPES)
    if unknown:
        raise InputError(f"types: unknown event type {unknown[0]!r}; one of {sorted(EVENT_TYPES)}")
    return wanted


def with_links(event: StoredEvent, tenant: str, settings: Settings) -> StoredEvent:
    """A terminal event with its result links, as an endpoint with the default
    ``result_links_ttl`` would get it (the stream has no endpoint of its own)."""
    expires_at = int(time.time()) + Endpoint.result_links_ttl_s
    body = results.with_links_for(event.body, event.type, tenant, settings, expires_at=expires_at)
    return replace(event, body=body)


def frame(event: StoredEvent) -> str:
    """One event as server-sent event lines (its body kept on one line)."""
    data = event.body
    if "\n" in data or "\r" in data:
        data = json.dumps(json.loads(data), separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n"


async def _read(store: Store, tenant: str, cursor: Cursor) -> list[IndexedEvent]:
    indexed = await run_in_threadpool(store.indexed_events_since, tenant, cursor.floor_s)
    return cursor.unsent(indexed)


async def _frames(
    store: Store,
    tenant: str,
    cursor: Cursor,
    types: frozenset[str] | None,
    stopping: Callable[[], bool],
    settings: Settings,
) -> AsyncIterator[str]:
    """Every new event, until the client goes (the response is then cancelled) or the
    server stops (the stream ends; the client resumes with Last-Event-ID)."""
    quiet_since = time.monotonic()
    while not stopping():
        try:
            unsent = await _read(store, tenant, cursor)
            for start in range(0, len(unsent), BODIES_PER_READ):
                run = unsent[start : start + BODIES_PER_READ]
                stored = await run_in_threadpool(store.stored_events, [eid for _, eid in run])
                for event in stored:
                    if types is None or event.type in types:
                        yield frame(with_links(event, tenant, settings))
                        quiet_since = time.monotonic()
                cursor.mark(run)
        except StoreUnavailable:
            log.warning("event_stream_store_unavailable", tenant=tenant)
        if time.monotonic() - quiet_since >= KEEPALIVE_S:
            yield KEEPALIVE
            quiet_since = time.monotonic()
        await anyio.sleep(POLL_INTERVAL_S)


async def _start(store: Store, tenant: str, last_event_id: str | None) -> Cursor:
    """The cursor of a new connection: after the named event, or after all there are."""
    if last_event_id:
        try:
            position = await run_in_threadpool(store.event_position, tenant, last_event_id)
        except NotFound:
            raise NotFound(
                f"Last-Event-ID: no event {last_event_id!r} (unknown, or past the retention)"
            ) from None
        return Cursor.resuming(position)
    cursor = Cursor(newest_s=time.time())
    cursor.mark(await _read(store, tenant, cursor))  # what is there already is no news
    return cursor


@router.get("/stream", include_in_schema=False)
async def stream_events(
    request: Request,
    tenant: TenantDep,
    store: StoreDep,
    settings: SettingsDep,
    types: Annotated[str | None, Query(max_length=2000)] = None,
    last_event_id: Annotated[str | None, Query(max_length=256)] = None,
    last_event_id_header: Annotated[
        str | None, Header(alias="last-event-id", max_length=256)
    ] = None,
) -> StreamingResponse:
    wanted = parse_types(types)
    cursor = await _start(store, tenant, last_event_id_header or last_event_id)
    return StreamingResponse(
        _frames(store, tenant, cursor, wanted, request.app.state.stopping, settings),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
