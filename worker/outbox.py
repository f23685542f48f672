"""Work the outbox: attempt claimed deliveries concurrently and record each attempt."""

from __future__ import annotations

import asyncio

import httpx
import structlog

from worker import delivery
from worker.settings import Settings
from worker.store import DeliveryJob, Store

log = structlog.get_logger()


async def _deliver_one(
    store: Store, client: httpx.AsyncClient, job: DeliveryJob, settings: Settings
) -> str:
    structlog.contextvars.bind_contextvars(
        batch_id=job.batch_id,
        event_id=job.event_id,
        delivery_id=job.delivery_id,
        endpoint_id=job.endpoint_id,
        attempt=job.round_attempts + 1,
    )
    outcome = await delivery.attempt(
        client,
        job,
        timeout_s=settings.delivery_timeout_s,
        schedule_s=settings.retry_delays_s,
        allow_private=settings.allow_private_destinations,
    )
    store.record_attempt(
        job.delivery_id,
        outcome.record,
        outcome=outcome.outcome,
        next_attempt_at=outcome.next_attempt_at,
    )
    if outcome.disable_endpoint:
        store.disable_endpoint(job.endpoint_id, "410 Gone")
        log.warning("endpoint_disabled", reason="410 Gone")
    return outcome.outcome


async def deliver_many(
    store: Store, client: httpx.AsyncClient, delivery_ids: list[str], settings: Settings
) -> list[str]:
    """One attempt for each pending delivery given; returns each outcome."""
    jobs = [j for j in store.load_delivery_jobs(delivery_ids) if j.state == "pending"]
    # Each attempt runs in its own task, so its bound log context stays its own.
    return list(await asyncio.gather(*(_deliver_one(store, client, j, settings) for j in jobs)))
