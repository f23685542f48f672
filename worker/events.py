"""Every webhook event batchhook sends, built in one place. Pure: the clock is passed in.

A body has the shape of OpenAI's own ``batch.*`` events (``id``, ``object``, ``type``,
``created_at``, ``data``). ``data`` is made by one function per kind of event: a batch's
status change (``batch_data``), a batch that cannot be watched (``watch_failed_data``),
a test (``webhook_test_data``) and a disabled endpoint (``endpoint_disabled_data``). The poller,
the API, endpoint health and ``batchhook trigger`` all build their events here, so a
sample looks exactly like the real thing.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from worker import jsoncodec, keys
from worker.destinations import masked_url
from worker.models import Endpoint, NewEvent, Snapshot, Watch

EVENT_ID_HEX = 24  # evt_ + 24 hex digits, random or derived alike
_DERIVED_ID_VERSION = "batchhook-event-id-v1"  # part of every derived id: never change it


def new_event_id(watch_id: str | None = None) -> str:
    """A random id, for an event that nothing else makes unique (``webhook.test``); an
    event of a watch starts with the watch's shard digits, as derived ids do."""
    digits = secrets.token_hex(EVENT_ID_HEX // 2)
    if watch_id:
        digits = keys.shard(watch_id) + digits[keys.SHARD_HEX :]
    return f"evt_{digits}"


def derived_event_id(*parts: str, watch_id: str | None = None) -> str:
    """The same id for the same parts, on every process, restart, upgrade and key rotation.

    A change that is detected again after Redis lost its last writes (a crash, or a
    failover to a replica that lagged) is therefore sent again under the same
    ``webhook-id``, which receivers deduplicate by. No secret goes in: rotating
    ``BATCHHOOK_SECRET_KEY`` must not change ids. An event of a watch starts with the
    watch's shard digits (``keys.shard``), so it is stored in the watch's partition."""
    material = "\x00".join((_DERIVED_ID_VERSION, *parts)).encode()
    digest = hashlib.sha256(material).hexdigest()[:EVENT_ID_HEX]
    if watch_id is not None:
        digest = keys.shard(watch_id) + digest[keys.SHARD_HEX :]
    return f"evt_{digest}"


def status_event_id(watch: Watch, status: str) -> str:
    """A batch reaching ``status``, watched by one tenant through one connection.

    The previous status is left out on purpose: after Redis forgets recent writes, the
    same arrival at ``completed`` may be seen as ``in_progress -> completed`` where it was
    ``finalizing -> completed`` before, and it must keep its id. A batch reaches each of
    its statuses once (validating, in_progress, finalizing, then one terminal status)."""
    return derived_event_id(
        "status", watch.tenant, watch.connection_id, watch.batch_id, status, watch_id=watch.id
    )


def watch_failed_event_id(watch: Watch) -> str:
    """A watch that stopped for good: one per registration (a new one may fail again)."""
    registered = repr(float(watch.created_at))
    return derived_event_id(
        "watch_failed", watch.tenant, watch.connection_id, watch.batch_id, registered,
        watch_id=watch.id,
    )  # fmt: skip


def signal_event_id(watch: Watch, event_type: str, *parts: str) -> str:
    """A signal of a watch (``worker/signals.py``): one per step, lead time or stall."""
    return derived_event_id(
        event_type, watch.tenant, watch.connection_id, watch.batch_id, *parts, watch_id=watch.id
    )


def endpoint_disabled_event_id(endpoint: Endpoint, disabled_at: int) -> str:
    """One endpoint disabled at one time."""
    return derived_event_id("endpoint_disabled", endpoint.tenant, endpoint.id, str(disabled_at))


def event_body(event_id: str, event_type: str, created_at: int, data: dict[str, Any]) -> str:
    """The webhook body, shaped like OpenAI's own ``batch.*`` events."""
    body = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created_at": created_at,
        "data": data,
    }
    return jsoncodec.dumps_compact(body)


def new_event(
    *,
    tenant: str,
    event_type: str,
    data: dict[str, Any],
    endpoint_ids: tuple[str, ...],
    now: float,
    watch_id: str = "",
    batch_id: str = "",
    event_id: str | None = None,
) -> NewEvent:
    """A new event, its body made from ``data``; its id is ``event_id`` when the caller
    derived one (see ``status_event_id``), else fresh and random."""
    event_id = event_id or new_event_id(watch_id)
    created_at = int(now)
    return NewEvent(
        id=event_id,
        tenant=tenant,
        watch_id=watch_id,
        batch_id=batch_id,
        type=event_type,
        created_at=created_at,
        body=event_body(event_id, event_type, created_at, data),
        endpoint_ids=endpoint_ids,
    )


def batch_data(watch: Watch, snapshot: Snapshot, provider: str, now: float) -> dict[str, Any]:
    """A status change: the provider's word, the normalised status and the file ids."""
    return {
        "id": watch.batch_id,
        "status": snapshot.word,
        "normalized_status": snapshot.status,
        "previous_status": watch.status,
        "output_file_id": snapshot.output_file_id,
        "error_file_id": snapshot.error_file_id,
        "request_counts": snapshot.request_counts,
        "provider": provider,
        "connection_id": watch.connection_id,
        "metadata": watch.metadata,
        "duration_s": duration_s(watch, snapshot, now),
        **({"succeeded_share": succeeded_share(snapshot)} if snapshot.is_terminal else {}),
        "batch": snapshot.raw,
    }


def duration_s(watch: Watch, snapshot: Snapshot | None, now: float) -> float:
    """From the batch's creation (its registration, when the provider gives no time)."""
    created = snapshot.created_at if snapshot else watch.summary.get("batch_created_at")
    if not isinstance(created, int | float) or not created:
        created = watch.created_at
    return round(max(now - created, 0.0), 3)


def succeeded_share(snapshot: Snapshot) -> float | None:
    """Of the batch's requests, the share that succeeded; None without counts."""
    counts = snapshot.request_counts or {}
    total = counts.get("total") or 0
    return round(counts.get("completed", 0) / total, 4) if total > 0 else None


def progress_view(counts: Any) -> dict[str, Any] | None:
    """``completed``, ``failed``, ``total`` and the ``percent`` done; None without counts."""
    if not isinstance(counts, dict) or not counts.get("total"):
        return None
    completed, failed, total = (int(counts.get(k, 0)) for k in ("completed", "failed", "total"))
    percent = round(100 * (completed + failed) / total, 2)
    return {"completed": completed, "failed": failed, "total": total, "percent": percent}


def batch_signal_data(
    watch: Watch, snapshot: Snapshot, provider: str, reading: dict[str, Any], now: float
) -> dict[str, Any]:
    """A signal (progress, expiring, stalled, resumed): where the batch stands and its pace."""
    return {
        "id": watch.batch_id,
        "status": snapshot.word,
        "normalized_status": snapshot.status,
        "progress": progress_view(snapshot.request_counts),
        "request_counts": snapshot.request_counts,
        "request_rate_per_s": reading["request_rate_per_s"],
        "estimated_completion_at": reading["estimated_completion_at"],
        "expires_at": reading["expires_at"],
        "duration_s": duration_s(watch, snapshot, now),
        "provider": provider,
        "connection_id": watch.connection_id,
        "metadata": watch.metadata,
    }


def watch_failed_data(
    watch: Watch, *, message: str, status_code: int | None, provider: str, now: float
) -> dict[str, Any]:
    """``batch.watch_failed``: the last-seen status and why polling stopped."""
    return {
        "id": watch.batch_id,
        "status": watch.status,
        "normalized_status": watch.normalized_status,
        "previous_status": watch.status,
        "error": {"message": message, "status_code": status_code},
        "provider": provider,
        "connection_id": watch.connection_id,
        "metadata": watch.metadata,
        "duration_s": duration_s(watch, None, now),
    }


def webhook_test_data(endpoint_id: str) -> dict[str, Any]:
    """``webhook.test``: says which endpoint it tests; no batch, no file ids."""
    return {"id": "batch_test", "status": "completed", "endpoint_id": endpoint_id, "test": True}


def endpoint_disabled_data(endpoint: Endpoint, reason: str, disabled_at: int) -> dict[str, Any]:
    """``endpoint.disabled``: which endpoint, its URL, why and when."""
    return {
        "id": endpoint.id,
        "endpoint_id": endpoint.id,
        "url": masked_url(endpoint.url),
        "reason": reason,
        "disabled_at": disabled_at,
    }
