"""/v1/connections: a tenant's provider credentials (keys never leave the store), with
how they are used: the account's last listing (``watch_all``) and the provider's 429s."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from worker.api.deps import SettingsDep, StoreDep, TenantDep
from worker.api.pages import PageDep, list_answer
from worker.api.schemas import ConnectionIn
from worker.destinations import check_url
from worker.providers import get_provider

router = APIRouter(prefix="/v1/connections")


@router.post("", status_code=201)
def create_connection(
    body: ConnectionIn, tenant: TenantDep, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    provider = get_provider(body.provider)
    base_url = (body.base_url or provider.default_base_url).rstrip("/")
    check_url(base_url, allow_private=settings.allow_private_destinations)
    conn = store.create_connection(
        tenant,
        provider=provider.name,
        base_url=base_url,
        api_key=body.api_key,
        headers=body.headers,
        params=body.params,
        webhook_secret=body.webhook_secret,
        watch_all=body.watch_all,
    )
    return conn.public()


@router.get("")
def list_connections(tenant: TenantDep, store: StoreDep, page: PageDep) -> dict[str, Any]:
    found = store.page_connections(tenant, starting_after=page.starting_after, limit=page.limit)
    return list_answer(found, lambda c: c.public())


@router.get("/{connection_id}")
def get_connection(connection_id: str, tenant: TenantDep, store: StoreDep) -> dict[str, Any]:
    return store.get_connection(tenant, connection_id, with_activity=True).public()


@router.delete("/{connection_id}")
def delete_connection(connection_id: str, tenant: TenantDep, store: StoreDep) -> dict[str, Any]:
    store.delete_connection(tenant, connection_id)
    return {"id": connection_id, "object": "connection", "deleted": True}
