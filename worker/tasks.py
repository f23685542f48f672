"""Thin Celery tasks: bind log context, call plain functions.

``tick`` (sent by beat every second; beat inside a one-process worker runs it itself,
``run_tick``) claims due polls, due deliveries and due account
discoveries atomically and fans them out in chunks (a claim of one poll chunk or less it
polls itself), and forgets watches whose retention ran out; ``poll_batches`` polls a
chunk and makes each new event's first attempts as soon as its change is recorded (past
``INLINE_FIRST_ATTEMPTS``, in ``deliver`` tasks);
``discover_batches`` lists a watch_all connection's batches (see ``discovery``);
``deliver`` makes one attempt per claimed delivery; ``recover_endpoint`` resends an
endpoint's failed deliveries of a window.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

import structlog
from celery.signals import task_postrun

from worker.celery_app import app
from worker.delivery import DELIVERY_CONCURRENCY
from worker.discovery import discover
from worker.errors import StoreUnavailable
from worker.outbox import deliver_jobs, deliver_many
from worker.poller import Created, PollLimits, poll_chunk
from worker.runtime import Runtime, runtime
from worker.settings import Settings
from worker.signals import StallThresholds
from worker.store import ClaimAt, DeliveryJob

log = structlog.get_logger()

DELIVERY_CHUNK = DELIVERY_CONCURRENCY  # one deliver task fills the sender
INLINE_FIRST_ATTEMPTS = 500  # at 100 in flight, 50 s even if every one times out
# A surge's chunks are at most this big: at one endpoint per event, their first attempts
# are still all made by the task that polled them.
SURGE_CHUNK_SIZE = INLINE_FIRST_ATTEMPTS


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@app.task(name="batchhook.tick")
def tick() -> dict[str, int]:
    return run_tick(runtime())


def poll_chunk_size(claimed: int, chunk_size: int, surge_tasks: int) -> int:
    """The batches each poll task of a claim of ``claimed`` gets: ``chunk_size``, unless
    the claim is a surge of more than ``surge_tasks`` chunks (many batches due at one
    instant, a backlog after an outage); then it is spread over ``surge_tasks`` tasks,
    of ``SURGE_CHUNK_SIZE`` batches at most (more tasks past that).

    On busy worker processes fewer, bigger tasks cost less CPU per poll and per delivery
    (bench/fanout.py at 20,000 due at once, 2 workers x 2: 0.33 -> 0.29 CPU s per 1,000
    deliveries at chunks of 500). A chunk's answers are read on one event loop, so a
    bigger one delays its changes' webhooks by a few tens of milliseconds, which the
    polls of a surge wait in the queue anyway; a steady load keeps ``chunk_size``."""
    if surge_tasks <= 0 or claimed <= chunk_size * surge_tasks:
        return chunk_size
    return max(chunk_size, min(SURGE_CHUNK_SIZE, math.ceil(claimed / surge_tasks)))


def run_tick(rt: Runtime) -> dict[str, int]:
    """One tick with ``rt``'s store, loop and clients: the ``tick`` task's body, which
    beat inside a one-process worker runs itself (``worker.beat``)."""
    settings = rt.settings
    now = time.time()
    # Half a tick of lookahead: a batch due just after this tick is polled now rather
    # than a whole tick late. Polls, deliveries and listings are claimed in one round trip.
    due = rt.store.claim_due_work(
        polls=ClaimAt(now + settings.tick_interval_s / 2, now + settings.poll_lease_s),
        deliveries=ClaimAt(now, now + settings.delivery_lease_s),
        limit=settings.claim_limit,
    )
    due_watches = due.polls
    # A claim of one chunk or less is polled by this task, once the deliveries and listings
    # are sent on: a small deployment then runs one task a second, not two. A larger claim
    # goes out in chunks, to every worker (a surge in bigger ones: poll_chunk_size).
    poll_here = len(due_watches) <= settings.poll_chunk_size
    if not poll_here:
        size = poll_chunk_size(
            len(due_watches), settings.poll_chunk_size, settings.poll_surge_tasks
        )
        for chunk in chunks(due_watches, size):
            poll_batches.delay(chunk)
    for chunk in chunks(due.deliveries, DELIVERY_CHUNK):
        deliver.delay(chunk)
    for connection_id in due.discoveries:
        discover_batches.delay(connection_id)
    rt.store.sweep_finished(now)
    if poll_here and due_watches:
        structlog.contextvars.clear_contextvars()
        rt.run(_poll_then_deliver(rt, due_watches))
    return {
        "polls": len(due_watches),
        "deliveries": len(due.deliveries),
        "discoveries": len(due.discoveries),
    }


@task_postrun.connect
def _wake_beat(**_: object) -> None:
    """What a task wrote may fall due sooner than beat last read (a recorded poll's next
    poll replaces its lease; a retry its delivery's): beat reads again (``worker.beat``)."""
    with contextlib.suppress(StoreUnavailable):  # beat, failing to read, sends ticks
        runtime().store.wake_beat()


def poll_limits(settings: Settings) -> PollLimits:
    return PollLimits(
        timeout_s=settings.poll_timeout_s,
        concurrency=settings.poll_concurrency,
        calls_per_second=settings.provider_calls_per_second,
        rate_limit_pause_s=settings.rate_limit_pause_s,
        not_found_grace_s=settings.not_found_grace_s,
        stall=StallThresholds(
            validating_s=settings.stall_validating_s, running_s=settings.stall_running_s
        ),
    )


class FirstAttempts:
    """New events' first attempts, started as their poll is recorded, from the jobs the
    poll made (nothing read back from Redis). The deliveries of changes recorded in one
    turn of the event loop start together, in one ``deliver_jobs``. Up to
    ``INLINE_FIRST_ATTEMPTS`` per task are made here; the rest of a large fan-out goes to
    ``deliver`` tasks by id, so every worker process shares it and none holds deliveries
    past their lease."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.inline: list[asyncio.Task[list[str]]] = []
        self.waiting: list[DeliveryJob] = []
        self.started = 0

    def start(self, created: Created) -> None:
        jobs = [job for jobs in created.values() for job in jobs]
        room = max(0, INLINE_FIRST_ATTEMPTS - self.started)
        here, elsewhere = jobs[:room], [job.delivery_id for job in jobs[room:]]
        if here and not self.waiting:
            asyncio.get_running_loop().call_soon(self._start_waiting)
        self.waiting += here
        for chunk in chunks(elsewhere, DELIVERY_CHUNK):
            deliver.delay(chunk)
        self.started += len(jobs)

    def _start_waiting(self) -> None:
        rt, jobs, self.waiting = self.rt, self.waiting, []
        if jobs:
            self.inline.append(
                asyncio.create_task(deliver_jobs(rt.store, rt.sender, jobs, rt.settings))
            )

    async def finish(self) -> int:
        self._start_waiting()  # what was recorded in the last turn
        await asyncio.gather(*self.inline)
        return self.started


async def _poll_then_deliver(rt: Runtime, watch_ids: list[str]) -> int:
    first = FirstAttempts(rt)
    limits = poll_limits(rt.settings)
    try:
        await poll_chunk(rt.store, rt.poll_client, watch_ids, limits, on_created=first.start)
    finally:  # what was recorded is attempted, even if a later part of the chunk failed
        started = await first.finish()
    return started


async def _discover_then_deliver(rt: Runtime, connection_id: str) -> int:
    outcome = await discover(
        rt.store,
        rt.poll_client,
        connection_id,
        poll_limits(rt.settings),
        rt.settings.discovery_interval_s,
    )
    first = FirstAttempts(rt)
    first.start(outcome.deliveries)
    return await first.finish()


@app.task(name="batchhook.poll_batches")
def poll_batches(watch_ids: list[str]) -> int:
    structlog.contextvars.clear_contextvars()
    rt = runtime()
    return rt.run(_poll_then_deliver(rt, watch_ids))


@app.task(name="batchhook.discover_batches")
def discover_batches(connection_id: str) -> int:
    structlog.contextvars.clear_contextvars()
    rt = runtime()
    return rt.run(_discover_then_deliver(rt, connection_id))


@app.task(name="batchhook.deliver")
def deliver(delivery_ids: list[str]) -> list[str]:
    structlog.contextvars.clear_contextvars()
    rt = runtime()
    return rt.run(deliver_many(rt.store, rt.sender, delivery_ids, rt.settings))


@app.task(name="batchhook.recover_endpoint")
def recover_endpoint(recovery_id: str) -> int:
    """Resend an endpoint's failed deliveries of a time window (``POST .../recover``)."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(recovery_id=recovery_id)
    redelivered = runtime().store.run_recovery(recovery_id)
    log.info("endpoint_recovered", redelivered=redelivered)
    return redelivered
