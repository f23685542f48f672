"""Celery beat's scheduler for batchhook: its one entry, the tick, on a monotonic clock,
sent only when the tick has something to claim.

Celery's own ``Scheduler.tick`` works out every entry's next run with time-zone aware
datetimes, twice a second for a 1 s entry; for the single fixed-interval tick that was
most of beat's CPU (0.58 s a minute with nothing watched). Here, every
``BATCHHOOK_TICK_INTERVAL_S``, beat asks Redis when the next poll, delivery, listing or
sweep falls due (``Store.next_due``, one round trip) and sends the tick only if one falls
due before the tick after this one, so an idle deployment's worker runs no task at all.
With ``BATCHHOOK_POLL_GATHER_S``, due polls wait up to that long to go out together
(unless a chunk's worth is due): a small deployment then runs a few full ticks instead
of one a second for a poll or two each. A tick still goes out at least every
``HEARTBEAT_S``, and whenever Redis cannot be asked (the tick then meets the outage
itself, as before).

Two beats by mistake still send two ticks; the tick's claims are atomic, so nothing is
polled or sent twice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from celery import Celery
from celery.beat import EmbeddedService, ScheduleEntry, Scheduler

from worker.errors import StoreUnavailable
from worker.settings import get_settings
from worker.store import Store, open_store

log = structlog.get_logger()

TICK_ENTRY = "tick"
HEARTBEAT_S = 60.0  # the longest beat goes without sending a tick


class TickScheduler(Scheduler):  # type: ignore[misc]  # celery is untyped
    """Sends the ``tick`` entry every tick interval when something is (nearly) due."""

    def setup_schedule(self) -> None:
        super().setup_schedule()
        self.settings = get_settings()
        self.interval_s = self.settings.tick_interval_s
        self.next_at = time.monotonic()
        self.last_sent_at = -math.inf
        self.store: Store | None = None

    @property
    def tick_entry(self) -> ScheduleEntry:
        return self.schedule[TICK_ENTRY]

    def tick(self, *_: Any, **__: Any) -> float:
        """One turn of beat's loop: send the tick if it is time and worth it; answer how
        long beat may sleep."""
        now = time.monotonic()
        if now < self.next_at:
            return self.next_at - now
        self.next_at = max(self.next_at + self.interval_s, now)  # no burst after a stall
        if self.worth_sending(now):
            self.send_tick(now)
        return max(0.0, self.next_at - time.monotonic())

    def send_tick(self, now: float) -> None:
        """Publish the tick; a broker that cannot take it (down, failing over) is logged
        and tried again the next tick, as Celery's own ``apply_entry`` does."""
        try:
            self.apply_async(self.tick_entry, producer=self.producer, advance=False)
        except Exception as exc:  # any failure: beat must keep going
            log.warning("tick_not_sent", error=str(exc))
        else:
            self.last_sent_at = now

    def worth_sending(self, now: float) -> bool:
        if now - self.last_sent_at >= HEARTBEAT_S:
            return True
        # Anything due before the tick after this one: the tick claims with half a tick
        # of lookahead, and is taken from the queue a moment after it is sent.
        horizon = time.time() + self.interval_s
        try:
            due = self.redis_store().next_due(horizon)
        except StoreUnavailable:
            return True
        if due.other_at is not None and due.other_at <= horizon:
            return True
        if due.poll_at is None:
            return False
        # Polls may gather for BATCHHOOK_POLL_GATHER_S, unless a chunk's worth waits.
        gathered = due.polls_by_horizon >= self.settings.poll_chunk_size
        return gathered or due.poll_at + self.settings.poll_gather_s <= horizon

    def redis_store(self) -> Store:
        if self.store is None:
            self.store = open_store(self.settings)
        return self.store


@contextmanager
def embedded_beat(app: Celery, wanted: bool) -> Iterator[None]:
    """While the block runs, beat's loop (this scheduler) in a thread of this process, if
    ``wanted``: a one-worker deployment then needs no beat process of its own."""
    if not wanted:
        yield
        return
    service = EmbeddedService(app, thread=True, scheduler_cls=app.conf.beat_scheduler)
    service.start()
    try:
        yield
    finally:
        service.stop()
