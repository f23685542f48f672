"""/v1/batches: start, inspect and stop watching provider batches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from worker import events
from worker.api.deps import StoreDep, TenantDep
from worker.api.pages import PageDep, list_answer
from worker.api.schemas import BatchIn
from worker.api.wake_beat import beat_woken
from worker.errors import Conflict, NotFound
from worker.models import BatchStatus, Watch
from worker.store import Store

router = APIRouter(prefix="/v1/batches")


def batch_view(watch: Watch, provider: str | None = None) -> dict[str, Any]:
    """A watch as the API shows it; ``provider``: its connection's (None once the
    connection is gone)."""
    snapshot = watch.summary or watch.snapshot or {}
    return {
        "object": "batch_watch",
        "batch_id": watch.batch_id,
        "connection_id": watch.connection_id,
        "provider": provider,
        "status": watch.status,
        "normalized_status": watch.normalized_status,
        "watching": watch.watching,
        "endpoint_ids": list(watch.endpoint_ids) if watch.endpoint_ids is not None else None,
        "metadata": watch.metadata,
        "poll_interval": watch.poll_interval_s,
        "created_at": int(watch.created_at),
        "last_polled_at": watch.last_polled_at,
        "next_poll_at": watch.next_poll_at if watch.watching else None,
        "consecutive_errors": watch.errors,
        "last_error": watch.last_error or None,
        "output_file_id": snapshot.get("output_file_id"),
        "error_file_id": snapshot.get("error_file_id"),
        "request_counts": snapshot.get("request_counts"),
        "progress": events.progress_view(snapshot.get("request_counts")),
        "request_rate_per_s": snapshot.get("request_rate_per_s"),
        "estimated_completion_at": snapshot.get("estimated_completion_at"),
        "expires_at": snapshot.get("expires_at"),
        "stall": _open_stall(snapshot) if watch.watching else None,
    }


def _open_stall(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The stall the last poll saw: since when the batch has not moved."""
    since, seen = summary.get("stalled_since"), summary.get("observed_at")
    if not isinstance(since, int | float) or not isinstance(seen, int | float):
        return None
    return {"since": since, "for_s": round(seen - since, 3)}


def detailed_view(store: Store, watch: Watch, provider: str | None = None) -> dict[str, Any]:
    """The watch with its history and events; ``provider``: its connection's, when the
    caller has just read it (else it is read here)."""
    if provider is None:
        provider = store.connection_providers({watch.connection_id}).get(watch.connection_id)
    history, events = store.watch_details(watch.id)
    return {**batch_view(watch, provider), "history": history, "events": events}


@router.post("", status_code=201)
def register_batch(
    body: BatchIn, tenant: TenantDep, store: StoreDep, request: Request, response: Response
) -> dict[str, Any]:
    conn, existing = store.connection_and_watch(tenant, body.connection_id, body.batch_id)
    if body.endpoint_ids is not None:
        known = {e.id for e in store.list_endpoints(tenant)}
        missing = [e for e in body.endpoint_ids if e not in known]
        if missing:
            raise NotFound(f"no endpoint {missing[0]!r}")
    if existing is not None and existing.connection_id != body.connection_id:
        raise Conflict(f"batch {body.batch_id} is already watched through {existing.connection_id}")
    shown = store.register_watch(
        tenant,
        batch_id=body.batch_id,
        connection_id=body.connection_id,
        endpoint_ids=list(dict.fromkeys(body.endpoint_ids))
        if body.endpoint_ids is not None
        else None,
        metadata=body.metadata,
        poll_interval_s=body.poll_interval,
        wake_beat=True,  # for its first poll, due now
    )
    beat_woken(request)
    if not shown.created:
        response.status_code = 200
    events = store.latest_events(shown.event_ids)  # none for a new watch: no round trip
    return {**batch_view(shown.watch, conn.provider), "history": shown.history, "events": events}


@router.get("")
def list_batches(
    tenant: TenantDep,
    store: StoreDep,
    page: PageDep,
    status: Annotated[
        BatchStatus | None,
        Query(description="only batches last seen in this (normalised) status"),
    ] = None,
    connection_id: Annotated[
        str | None,
        Query(min_length=1, max_length=256, description="only batches watched through it"),
    ] = None,
) -> dict[str, Any]:
    """Oldest registration first; ``status`` and ``connection_id`` filter before the
    page is cut (a connection the tenant has not got lists nothing)."""
    found = store.page_watches(
        tenant,
        starting_after=page.starting_after,
        limit=page.limit,
        status=status.value if status is not None else None,
        connection_id=connection_id,
    )
    providers = store.connection_providers({w.connection_id for w in found.data})
    return list_answer(found, lambda w: batch_view(w, providers.get(w.connection_id)))


@router.get("/{batch_id:path}")
def get_batch(batch_id: str, tenant: TenantDep, store: StoreDep) -> dict[str, Any]:
    return detailed_view(store, store.get_watch(tenant, batch_id))


@router.delete("/{batch_id:path}")
def stop_watching(batch_id: str, tenant: TenantDep, store: StoreDep) -> dict[str, Any]:
    store.delete_watch(tenant, batch_id)
    return {"object": "batch_watch", "batch_id": batch_id, "watching": False, "deleted": True}
