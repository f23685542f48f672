"""/v1/batches/{batch_id}/output and /errors: a batch's result files, streamed with the
stored key (``worker.results``).

The caller is the tenant, with its bearer token, or holds a signed link (``watch``,
``expires`` and ``signature``), which needs no token. A link that was changed, has
expired or names another batch's watch answers 403; no token and no link, 401. The
watch and its connection are read in the thread pool (the store is synchronous); the
file streams on the event loop through one guarded session per web process, which
connects to public addresses only unless private destinations are allowed.

Registered before the batches router, whose ``GET /{batch_id:path}`` would take these
paths too.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from worker.api.deps import get_tenant, settings_of, store_of
from worker.api.errors import error_response
from worker.destinations import guarded_session
from worker.errors import Forbidden, NotFound, ProviderError
from worker.models import Connection, Watch
from worker.providers import ResultKind
from worker.records import frozen
from worker.results import check_link, open_result
from worker.settings import Settings
from worker.store import Store

router = APIRouter(prefix="/v1/batches")

RESULT_CONNECTIONS = 64  # pooled connections of the web process's session to providers
FILE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file as the provider serves it (JSON Lines), streamed.",
        "content": {"application/jsonl": {"schema": {"type": "string"}}},
    },
}


@frozen
class LinkQuery:
    """The signed link's parameters, as the caller sent them (all None: no link)."""

    watch: str | None
    expires: str | None
    signature: str | None

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.watch, self.expires, self.signature))


@router.get("/{batch_id:path}/output", response_class=StreamingResponse, responses=FILE_ANSWERS)
async def get_output(
    request: Request,
    batch_id: str,
    watch: str | None = None,
    expires: str | None = None,
    signature: str | None = None,
) -> Response:
    """The batch's output file, fetched from the provider with the stored key."""
    return await serve_result(request, batch_id, "output", LinkQuery(watch, expires, signature))


@router.get("/{batch_id:path}/errors", response_class=StreamingResponse, responses=FILE_ANSWERS)
async def get_errors(
    request: Request,
    batch_id: str,
    watch: str | None = None,
    expires: str | None = None,
    signature: str | None = None,
) -> Response:
    """The batch's error file (its failed requests), fetched with the stored key."""
    return await serve_result(request, batch_id, "errors", LinkQuery(watch, expires, signature))


async def serve_result(
    request: Request, batch_id: str, kind: ResultKind, link: LinkQuery
) -> Response:
    settings = settings_of(request)
    watch, conn = await run_in_threadpool(authorised_watch, request, batch_id, kind, link)
    try:
        stream = await open_result(
            result_client(request.app),
            conn,
            watch.snapshot,
            kind,
            batch_id=watch.batch_id,
            timeout_s=settings.poll_timeout_s,
        )
    except ProviderError as exc:
        return error_response(502, "provider_error", str(exc))
    length = stream.content_length
    return StreamingResponse(
        stream.chunks(),
        media_type=stream.content_type,
        headers={"content-length": str(length)} if length is not None else None,
        background=BackgroundTask(stream.aclose),
    )


def authorised_watch(
    request: Request, batch_id: str, kind: ResultKind, link: LinkQuery
) -> tuple[Watch, Connection]:
    """The watch the caller may read the file of, and its connection (key decrypted)."""
    store, settings = store_of(request), settings_of(request)
    if link.given:
        watch = linked_watch(store, settings, batch_id, kind, link)
    else:
        watch = store.get_watch(get_tenant(request, store, settings), batch_id)
    return watch, store.get_connection(watch.tenant, watch.connection_id)


def linked_watch(
    store: Store, settings: Settings, batch_id: str, kind: ResultKind, link: LinkQuery
) -> Watch:
    """The watch a genuine link names; the store is not read for a bad link."""
    wid = check_link(
        settings.secret_key or "",
        watch_id=link.watch,
        kind=kind,
        expires=link.expires,
        signature=link.signature,
        now=time.time(),
    )
    found = store.watches_by_id([wid])
    if not found:
        raise NotFound(f"batch {batch_id!r} is not watched")
    if found[0].batch_id != batch_id:
        raise Forbidden("this result link is for another batch")
    return found[0]


def result_client(app: FastAPI) -> aiohttp.ClientSession:
    """The web process's session for provider file calls, made on first use (inside the
    event loop, as aiohttp wants)."""
    client: aiohttp.ClientSession | None = getattr(app.state, "result_client", None)
    if client is None or client.closed:
        settings: Settings = app.state.settings
        client = guarded_session(
            limit=RESULT_CONNECTIONS, allow_private=settings.allow_private_destinations
        )
        app.state.result_client = client
    return client


async def close_result_client(app: FastAPI) -> None:
    client: aiohttp.ClientSession | None = getattr(app.state, "result_client", None)
    if client is not None:
        await client.close()
