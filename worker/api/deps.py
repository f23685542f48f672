"""Request dependencies: the store, the settings and the calling tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from worker.settings import Settings
from worker.store import Store
from worker.store.scripts import Authenticated


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# As dependencies these two are ``async``: FastAPI runs a plain ``def`` dependency in its
# thread pool, a hop there and back on every request for an attribute read.
async def get_store(request: Request) -> Store:
    return store_of(request)


async def get_settings(request: Request) -> Settings:
    return settings_of(request)


def get_tenant(
    request: Request,
    store: Annotated[Store, Depends(get_store)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer token: send 'Authorization: Bearer <token>'")
    # Looked up by its SHA-256 digest as a Redis key: the token is never compared with a
    # stored one, so there is no comparison to time. One round trip also counts the request.
    found = store.authenticate(token.strip(), per_minute=settings.api_rate_limit_per_min)
    if found.tenant is None:
        raise HTTPException(401, "invalid token")
    refuse_over_rate(found, settings)
    return found.tenant


def refuse_over_rate(found: Authenticated, settings: Settings) -> None:
    """429 with ``Retry-After`` for a token past its requests a minute."""
    if found.retry_after_s:
        raise HTTPException(
            429,
            f"more than {settings.api_rate_limit_per_min} requests a minute with this token",
            headers={"Retry-After": str(found.retry_after_s)},
        )


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TenantDep = Annotated[str, Depends(get_tenant)]
