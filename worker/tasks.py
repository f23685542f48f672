"""Thin Celery tasks: bind log context, call plain functions.

``tick`` (sent by beat every second) claims due polls and due deliveries atomically and
fans them out in chunks; ``poll_batches`` polls a chunk and makes each new event's first
attempt at once; ``deliver`` makes one attempt per claimed delivery.
"""

from __future__ import annotations

import time

import structlog

from worker import keys
from worker.celery_app import app
from worker.outbox import deliver_many
from worker.poller import PollLimits, poll_chunk
from worker.runtime import Runtime, runtime

log = structlog.get_logger()

DELIVERY_CHUNK = 50


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@app.task(name="batchhook.tick")
def tick() -> dict[str, int]:
    rt = runtime()
    settings = rt.settings
    now = time.time()
    # Half a tick of lookahead: a batch due just after this tick is polled now rather
    # than a whole tick late.
    due_watches = rt.store.claim(
        keys.DUE,
        now=now + settings.tick_interval_s / 2,
        lease_until=now + settings.poll_lease_s,
        limit=settings.claim_limit,
    )
    for chunk in chunks(due_watches, settings.poll_chunk_size):
        poll_batches.delay(chunk)
    due_deliveries = rt.store.claim(
        keys.OUTBOX,
        now=now,
        lease_until=now + settings.delivery_lease_s,
        limit=settings.claim_limit,
    )
    for chunk in chunks(due_deliveries, DELIVERY_CHUNK):
        deliver.delay(chunk)
    return {"polls": len(due_watches), "deliveries": len(due_deliveries)}


async def _poll_then_deliver(rt: Runtime, watch_ids: list[str]) -> int:
    settings = rt.settings
    limits = PollLimits(
        timeout_s=settings.poll_timeout_s,
        concurrency=settings.poll_concurrency,
        calls_per_second=settings.provider_calls_per_second,
        rate_limit_pause_s=settings.rate_limit_pause_s,
    )
    created = await poll_chunk(rt.store, rt.poll_client, watch_ids, limits)
    delivery_ids = [d for ids in created.values() for d in ids]
    if delivery_ids:
        await deliver_many(rt.store, rt.delivery_client, delivery_ids, rt.settings)
    return len(delivery_ids)


@app.task(name="batchhook.poll_batches")
def poll_batches(watch_ids: list[str]) -> int:
    structlog.contextvars.clear_contextvars()
    rt = runtime()
    return rt.run(_poll_then_deliver(rt, watch_ids))


@app.task(name="batchhook.deliver")
def deliver(delivery_ids: list[str]) -> list[str]:
    structlog.contextvars.clear_contextvars()
    rt = runtime()
    return rt.run(deliver_many(rt.store, rt.delivery_client, delivery_ids, rt.settings))
