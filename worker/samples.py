"""Sample events for ``batchhook trigger``, made by the code that makes the real ones.

A ``batch.*`` sample is the simulated provider's OpenAI batch object in that status, read
by the ``openai`` provider adapter and turned into an event by ``events.batch_data``, as a
poll would; the others come from the same builders the poller, the API and endpoint
health use. Each
sample gets a fresh event id, so a receiver that deduplicates on ``webhook-id`` keeps
every one.
"""

from __future__ import annotations

import time
from typing import Any

from worker import events, keys, results, signals, simulator
from worker.models import (
    ENDPOINT_DISABLED,
    EXPIRING,
    PROGRESS,
    RESUMED,
    SIGNAL_EVENT_TYPES,
    STALLED,
    WATCH_FAILED,
    WEBHOOK_TEST,
    BatchStatus,
    Endpoint,
    NewEvent,
    Watch,
)
from worker.providers import get_provider

SAMPLE_TENANT = "sample"
SAMPLE_BATCH_ID = "batch_sample"
SAMPLE_CONNECTION_ID = "conn_sample"
SAMPLE_ENDPOINT_ID = "ep_sample"
SAMPLE_PROVIDER = "openai"
SAMPLE_PUBLIC_URL = "http://localhost:8000"
SAMPLE_LINKS_KEY = "sample-links-open-nothing"
SAMPLE_LINKS_TTL_S = 86400

# The status a batch usually had before reaching each one (None: first seen).
PREVIOUS_STATUS: dict[str, str | None] = {
    BatchStatus.VALIDATING: None,
    BatchStatus.IN_PROGRESS: BatchStatus.VALIDATING,
    BatchStatus.FINALIZING: BatchStatus.IN_PROGRESS,
    BatchStatus.COMPLETED: BatchStatus.FINALIZING,
    BatchStatus.FAILED: BatchStatus.VALIDATING,
    BatchStatus.EXPIRED: BatchStatus.IN_PROGRESS,
    BatchStatus.CANCELLING: BatchStatus.IN_PROGRESS,
    BatchStatus.CANCELLED: BatchStatus.CANCELLING,
}


def sample_watch(status: str | None, now: int) -> Watch:
    return Watch(
        id="w_sample",
        tenant=SAMPLE_TENANT,
        batch_id=SAMPLE_BATCH_ID,
        connection_id=SAMPLE_CONNECTION_ID,
        endpoint_ids=None,
        metadata={"sample": "true"},
        poll_interval_s=None,
        status=status,
        watching=True,
        created_at=now - 600,
        next_poll_at=None,
        last_polled_at=None,
        errors=0,
        last_error="",
        snapshot=None,
        summary={"normalized_status": status} if status else {},
    )


def _batch_event_data(status: BatchStatus, now: int) -> dict[str, Any]:
    raw = simulator.BatchBook(((status.value, 0.0),), clock=lambda: now).get(SAMPLE_BATCH_ID)
    snapshot = get_provider(SAMPLE_PROVIDER).snapshot(SAMPLE_BATCH_ID, raw)
    watch = sample_watch(PREVIOUS_STATUS[status], now)
    data = events.batch_data(watch, snapshot, SAMPLE_PROVIDER, float(now))
    if status.is_terminal:  # as each delivery adds them (results.with_result_links)
        data.update(_sample_links(data, now))
    return data


def _sample_links(data: dict[str, Any], now: int) -> dict[str, str | None]:
    """Links shaped like the real ones, signed with a key no deployment has: a sample's
    links answer 403."""

    def link(kind: str, file_id: Any) -> str | None:
        if not file_id:
            return None
        watch_id = keys.watch_id(SAMPLE_TENANT, SAMPLE_BATCH_ID)
        expires_at = now + SAMPLE_LINKS_TTL_S
        return results.result_url(
            SAMPLE_PUBLIC_URL, SAMPLE_BATCH_ID, watch_id, kind, expires_at, SAMPLE_LINKS_KEY
        )

    return {
        "output_url": link("output", data.get("output_file_id")),
        "error_url": link("errors", data.get("error_file_id")),
    }


def _sample_endpoint(now: int) -> Endpoint:
    return Endpoint(
        id="ep_sample_disabled",
        tenant=SAMPLE_TENANT,
        url="https://example.com/hooks/batches",
        events=(),
        description="",
        secret="",
        old_secret=None,
        old_secret_expires_at=None,
        disabled=True,
        disabled_reason="",
        created_at=now - 86400,
    )


def sample_data(event_type: str, now: int) -> dict[str, Any]:
    """``data`` of a sample event of this type (one of ``models.EVENT_TYPES``)."""
    if event_type == WEBHOOK_TEST:
        return events.webhook_test_data(SAMPLE_ENDPOINT_ID)
    if event_type == ENDPOINT_DISABLED:
        reason = "every delivery failed for 120.0 h"
        return events.endpoint_disabled_data(_sample_endpoint(now), reason, now)
    if event_type == WATCH_FAILED:
        watch = sample_watch(BatchStatus.IN_PROGRESS, now)
        message = "openai answered 404: No batch found with id 'batch_sample'."
        return events.watch_failed_data(
            watch, message=message, status_code=404, provider=SAMPLE_PROVIDER, now=now
        )
    if event_type in SIGNAL_EVENT_TYPES:
        return _signal_data(event_type, now)
    return _batch_event_data(BatchStatus(event_type.removeprefix("batch.")), now)


def _signal_data(event_type: str, now: int) -> dict[str, Any]:
    """A batch half done at 2.5 requests a second, 40 minutes before its deadline."""
    raw = simulator.BatchBook((("in_progress", 0.0),), clock=lambda: now).get(SAMPLE_BATCH_ID)
    raw["request_counts"] = {"total": 10000, "completed": 4980, "failed": 20}
    snapshot = get_provider(SAMPLE_PROVIDER).snapshot(SAMPLE_BATCH_ID, raw)
    reading = signals.Reading(
        moved_at=now - 30,
        estimated_completion_at=now + 2000.0,
        request_rate_per_s=2.5,
        expires_at=now + 2400.0,
        stalled_since=None,
    )
    watch = sample_watch(BatchStatus.IN_PROGRESS, now)
    data = events.batch_signal_data(watch, snapshot, SAMPLE_PROVIDER, reading.summary(), now)
    stalled_since = now - 3 * 3600
    extra: dict[str, Any] = {
        PROGRESS: {"progress_step": 50},
        EXPIRING: signals.expiring_data(reading, 3600),
        STALLED: {"stalled_for_s": float(now - stalled_since)},
        RESUMED: {"stalled_since": stalled_since, "stalled_for_s": float(now - stalled_since)},
    }[event_type]
    return {**data, **extra}


def sample_event(event_type: str, now: float | None = None) -> NewEvent:
    """A signed-ready sample event with a fresh id."""
    at = time.time() if now is None else now
    return events.new_event(
        tenant=SAMPLE_TENANT,
        event_type=event_type,
        data=sample_data(event_type, int(at)),
        endpoint_ids=(),
        now=at,
        batch_id="" if event_type in (WEBHOOK_TEST, ENDPOINT_DISABLED) else SAMPLE_BATCH_ID,
    )
