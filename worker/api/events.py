"""/v1/events: what was sent, to whom, and every attempt; redelivery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from worker.api.deps import StoreDep, TenantDep
from worker.api.pages import PageDep, list_answer
from worker.api.schemas import RedeliverIn
from worker.errors import InputError

router = APIRouter(prefix="/v1/events")


@router.get("")
def list_events(
    tenant: TenantDep,
    store: StoreDep,
    page: PageDep,
    batch_id: str | None = None,
    type: str | None = None,
) -> dict[str, Any]:
    """Newest first; ``batch_id`` and ``type`` filter before the page is cut."""
    found = store.page_events(
        tenant,
        batch_id=batch_id,
        event_type=type,
        starting_after=page.starting_after,
        limit=page.limit,
    )
    return list_answer(found, lambda event: event)


@router.get("/{event_id}")
def get_event(event_id: str, tenant: TenantDep, store: StoreDep) -> dict[str, Any]:
    return store.get_event(tenant, event_id)


@router.post("/{event_id}/redeliver", status_code=202)
def redeliver(
    event_id: str,
    tenant: TenantDep,
    store: StoreDep,
    body: Annotated[RedeliverIn | None, Body()] = None,
) -> dict[str, Any]:
    event = store.get_event(tenant, event_id)
    endpoint_id = body.endpoint_id if body else None
    if endpoint_id is not None:
        store.get_endpoint(tenant, endpoint_id)
    elif not event["deliveries"]:
        raise InputError("this event has no endpoints; name one with endpoint_id")
    store.redeliver(tenant, event_id, endpoint_id)
    return store.get_event(tenant, event_id)
