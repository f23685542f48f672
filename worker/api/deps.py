"""Request dependencies: the store and the calling tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from worker.settings import Settings
from worker.store import Store


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_tenant(request: Request, store: Annotated[Store, Depends(get_store)]) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer token: send 'Authorization: Bearer <token>'")
    tenant = store.tenant_for_token(token.strip())
    if tenant is None:
        raise HTTPException(401, "invalid token")
    return tenant


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TenantDep = Annotated[str, Depends(get_tenant)]
