"""What each dashboard page shows: the API's own views of the tenant's objects, gathered
for one template. Every read is scoped to the tenant the page was asked by."""

from __future__ import annotations

import time
from typing import Any

from worker.api.batches import batch_view, detailed_view
from worker.api.endpoints import endpoint_view
from worker.dashboard.charts import Minute, attempts_chart, peak, summary
from worker.models import BatchStatus
from worker.settings import Settings
from worker.store import Store

PAGE_SIZE = 50
STATUSES = [s.value for s in BatchStatus]


def batches_page(
    store: Store,
    tenant: str,
    *,
    status: str | None,
    connection_id: str | None,
    starting_after: str | None,
) -> dict[str, Any]:
    found = store.page_watches(
        tenant,
        starting_after=starting_after,
        limit=PAGE_SIZE,
        status=status,
        connection_id=connection_id,
    )
    providers = store.connection_providers({w.connection_id for w in found.data})
    rows = [batch_view(w, providers.get(w.connection_id)) for w in found.data]
    return {
        "section": "batches",
        "rows": rows,
        "has_more": found.has_more,
        "next_cursor": rows[-1]["batch_id"] if rows and found.has_more else None,
        "statuses": STATUSES,
        "connections": [c.id for c in store.list_connections(tenant)],
        "status": status,
        "connection_id": connection_id,
        "filtered": status is not None or connection_id is not None,
    }


def batch_page(store: Store, tenant: str, batch_id: str) -> dict[str, Any]:
    watch = store.get_watch(tenant, batch_id)
    return {
        "section": "batches",
        "batch": detailed_view(store, watch),
        "endpoint_names": _endpoint_names(store, tenant),
    }


def events_page(
    store: Store,
    tenant: str,
    *,
    event_type: str | None,
    batch_id: str | None,
    starting_after: str | None,
) -> dict[str, Any]:
    found = store.page_events(
        tenant,
        batch_id=batch_id,
        event_type=event_type,
        starting_after=starting_after,
        limit=PAGE_SIZE,
    )
    return {
        "section": "events",
        "events": found.data,
        "has_more": found.has_more,
        "next_cursor": found.data[-1]["id"] if found.data and found.has_more else None,
        "event_type": event_type,
        "batch_id": batch_id,
        "endpoint_names": _endpoint_names(store, tenant),
    }


def event_page(store: Store, tenant: str, event_id: str) -> dict[str, Any]:
    return {
        "section": "events",
        "event": store.get_event(tenant, event_id),
        "endpoint_names": _endpoint_names(store, tenant),
    }


def _endpoint_names(store: Store, tenant: str) -> dict[str, str]:
    """Each endpoint id's label: its description, else its (masked) URL."""
    return {ep.id: ep.description or str(ep.public()["url"]) for ep in store.list_endpoints(tenant)}


def endpoints_page(store: Store, settings: Settings, tenant: str) -> dict[str, Any]:
    now = time.time()
    rows = [endpoint_view(store, settings, ep, now) for ep in store.list_endpoints(tenant)]
    return {"section": "endpoints", "endpoints": rows}


def endpoint_page(
    store: Store, settings: Settings, tenant: str, endpoint_id: str
) -> dict[str, Any]:
    now = time.time()
    ep = store.get_endpoint(tenant, endpoint_id)
    hour = store.endpoint_activity(ep.id, now=now, minutes=60)
    minutes = [Minute(float(m["minute_at"]), m["succeeded"], m["failed"]) for m in hour]
    return {
        "section": "endpoints",
        "endpoint": endpoint_view(store, settings, ep, now, hour),
        "chart": attempts_chart(minutes),
        "chart_summary": summary(minutes),
        "chart_peak": peak(minutes),
        "chart_minutes": len(minutes),
    }


def connections_page(store: Store, tenant: str) -> dict[str, Any]:
    return {
        "section": "connections",
        "connections": [c.public() for c in store.list_connections(tenant)],
    }
