"""/v1/inbound/{connection_id}: a provider's own signed webhook triggers a poll at once.

OpenAI's ``batch.*`` webhooks carry only ``data.id``, so batchhook still retrieves the
batch for its file ids; the webhook only makes the next poll immediate.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from worker import keys, signing
from worker.api.deps import StoreDep

router = APIRouter(prefix="/v1/inbound")


@router.post("/{connection_id}")
async def inbound_webhook(connection_id: str, request: Request, store: StoreDep) -> dict[str, Any]:
    conn = store.connections_by_id({connection_id}).get(connection_id)
    if conn is None:
        raise HTTPException(404, f"no connection {connection_id!r}")
    if conn.webhook_secret is None:
        raise HTTPException(400, "this connection has no webhook_secret to verify with")
    body = await request.body()
    signing.verify(conn.webhook_secret, dict(request.headers), body, now=time.time())
    try:
        event = json.loads(body)
        batch_id = str(event["data"]["id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise HTTPException(422, "expected an event with data.id") from exc
    wid = keys.watch_id(conn.tenant, batch_id)
    watches = [w for w in store.watches_by_id([wid]) if w.connection_id == connection_id]
    polled = store.poll_now([w.id for w in watches if w.watching])
    return {"received": True, "batch_id": batch_id, "poll_scheduled": bool(polled)}
