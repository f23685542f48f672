"""/v1/endpoints: where webhooks go, which events, and their signing secrets."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from worker.api.deps import SettingsDep, StoreDep, TenantDep
from worker.api.schemas import EndpointIn, EndpointPatch
from worker.destinations import check_url
from worker.models import WEBHOOK_TEST, NewEvent
from worker.signing import new_secret
from worker.transitions import event_body, new_event_id

router = APIRouter(prefix="/v1/endpoints")


@router.post("", status_code=201)
def create_endpoint(
    body: EndpointIn, tenant: TenantDep, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    check_url(body.url, allow_private=settings.allow_private_destinations)
    secret = body.secret or new_secret()
    ep = store.create_endpoint(
        tenant, url=body.url, events=body.events, description=body.description, secret=secret
    )
    return {**ep.public(), "secret": secret}


@router.get("")
def list_endpoints(tenant: TenantDep, store: StoreDep) -> dict[str, Any]:
    return {"object": "list", "data": [e.public() for e in store.list_endpoints(tenant)]}


@router.get("/{endpoint_id}")
def get_endpoint(endpoint_id: str, tenant: TenantDep, store: StoreDep) -> dict[str, Any]:
    return store.get_endpoint(tenant, endpoint_id).public()


@router.patch("/{endpoint_id}")
def update_endpoint(
    endpoint_id: str,
    body: EndpointPatch,
    tenant: TenantDep,
    store: StoreDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    store.get_endpoint(tenant, endpoint_id)
    changes = body.model_dump(exclude_none=True)
    if "url" in changes:
        check_url(changes["url"], allow_private=settings.allow_private_destinations)
    return store.update_endpoint(tenant, endpoint_id, changes).public()


@router.delete("/{endpoint_id}")
def delete_endpoint(endpoint_id: str, tenant: TenantDep, store: StoreDep) -> dict[str, Any]:
    store.delete_endpoint(tenant, endpoint_id)
    return {"id": endpoint_id, "object": "endpoint", "deleted": True}


@router.post("/{endpoint_id}/rotate-secret")
def rotate_secret(
    endpoint_id: str, tenant: TenantDep, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    secret = new_secret()
    ep = store.rotate_endpoint_secret(
        tenant, endpoint_id, secret, grace_s=settings.old_secret_grace_s
    )
    return {
        "id": ep.id,
        "secret": secret,
        "previous_secret_expires_at": int(ep.old_secret_expires_at or 0),
    }


@router.post("/{endpoint_id}/test", status_code=202)
def send_test_event(endpoint_id: str, tenant: TenantDep, store: StoreDep) -> dict[str, Any]:
    ep = store.get_endpoint(tenant, endpoint_id)
    event_id = new_event_id()
    now = int(time.time())
    data = {"id": "batch_test", "status": "completed", "endpoint_id": ep.id, "test": True}
    store.create_event(
        NewEvent(
            id=event_id,
            tenant=tenant,
            watch_id="",
            batch_id="",
            type=WEBHOOK_TEST,
            created_at=now,
            body=event_body(event_id, WEBHOOK_TEST, now, data),
            endpoint_ids=(ep.id,),
        )
    )
    return store.get_event(tenant, event_id)
