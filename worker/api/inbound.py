"""/v1/inbound/{connection_id}: a provider's own signed webhook triggers a poll at once.

OpenAI's ``batch.*`` webhooks carry only ``data.id``, so batchhook still retrieves the
batch for its file ids (a watch_all connection registers a batch it has not seen yet):
the watch is claimed and a poll task sent at once, so the
subscriber hears within a second. Should the broker refuse the task, the batch is made
due instead and the next tick polls it; polling stays on as the safety net.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from worker import keys, signing
from worker.api.deps import SettingsDep, StoreDep
from worker.api.schemas import BatchIn
from worker.models import Connection, Watch
from worker.store import Store
from worker.tasks import poll_batches

log = structlog.get_logger()

router = APIRouter(prefix="/v1/inbound")


@router.post("/{connection_id}")
async def inbound_webhook(
    connection_id: str, request: Request, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    conn = store.connections_by_id({connection_id}).get(connection_id)
    if conn is None:
        raise HTTPException(404, f"no connection {connection_id!r}")
    if conn.webhook_secret is None:
        raise HTTPException(400, "this connection has no webhook_secret to verify with")
    body = await request.body()
    signing.verify(conn.webhook_secret, dict(request.headers), body, now=time.time())
    batch_id = _batch_id_of(body, conn.id)
    wid = keys.watch_id(conn.tenant, batch_id)
    watches = store.watches_by_id([wid])
    if not watches and conn.watch_all and not store.unwatched(conn.tenant, [batch_id]):
        watches = [_register(store, conn, batch_id)]
    wids = [w.id for w in watches if w.watching and w.connection_id == connection_id]
    polled = await run_in_threadpool(_poll_at_once, store, wids, settings.poll_lease_s)
    return {"received": True, "batch_id": batch_id, "poll_scheduled": bool(polled)}


def _batch_id_of(body: bytes, connection_id: str) -> str:
    """The event's ``data.id``, held to the same rule as a batch id given to POST /v1/batches."""
    try:
        batch_id = json.loads(body)["data"]["id"]
        BatchIn.model_validate({"batch_id": batch_id, "connection_id": connection_id})
    except (ValueError, KeyError, TypeError) as exc:  # pydantic's ValidationError included
        raise HTTPException(422, "expected an event whose data.id is a batch id") from exc
    return str(batch_id)


def _register(store: Store, conn: Connection, batch_id: str) -> Watch:
    """A watch_all connection hears of a new batch before its next listing."""
    return store.register_watch(
        conn.tenant,
        batch_id=batch_id,
        connection_id=conn.id,
        endpoint_ids=None,
        metadata={},
        poll_interval_s=None,
    ).watch


def _poll_at_once(store: Store, wids: list[str], lease_s: float) -> list[str]:
    claimed = store.claim_now(wids, lease_until=time.time() + lease_s)
    if not claimed:
        return []
    try:
        poll_batches.apply_async(args=[claimed], retry=False)
    except Exception:  # any broker failure: leave it to the tick
        log.warning("inbound_poll_not_sent", exc_info=True)
        return store.poll_now(claimed)
    return claimed
