"""Celery beat's scheduler for batchhook: its one entry, the tick, on a monotonic clock,
sent only when the tick has something to claim.

Celery's own ``Scheduler.tick`` works out every entry's next run with time-zone aware
datetimes, twice a second for a 1 s entry; for the single fixed-interval tick that was
most of beat's CPU (0.58 s a minute with nothing watched). Here beat asks Redis when the
next poll, delivery, listing or sweep falls due (``Store.next_due``, one round trip) and
sends the tick only if one falls due before the tick after this one, so an idle
deployment's worker runs no task at all. With ``BATCHHOOK_POLL_GATHER_S``, due polls wait
up to that long to go out together (unless a chunk's worth is due): a small deployment
then runs a few full ticks instead of one a second for a poll or two each. A tick still
goes out at least every ``HEARTBEAT_S``, and whenever Redis cannot be asked (the tick
then meets the outage itself, as before).

Beat reads again every ``BATCHHOOK_TICK_INTERVAL_S`` while something is due within a
tick or two. Otherwise it waits, blocked on a Redis list (``Store.wait_for_wake``), until
the soonest known due time nears, ``RECHECK_S`` passes, or a write that may have made
something due sooner wakes it (``Store.wake_beat``): every worker task at its end (a
recorded poll's next poll replaces its lease, which was far later) and every API write
(a registration, a test event, a redelivery). An idle small deployment's worker
(``--beat``) went from 0.063 to 0.027 CPU s a minute (bench/results/profile-idle.md).

Beat inside a one-process worker (``worker --concurrency 1 --beat``) does not send the
tick at all: it runs it in its own thread (``InProcessTickScheduler``), which saves the
broker round trip that was half of a small tick's cost.

Two beats by mistake still send two ticks; the tick's claims are atomic, so nothing is
polled or sent twice.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog
from celery import Celery
from celery.beat import EmbeddedService, ScheduleEntry, Scheduler

from worker.errors import StoreUnavailable
from worker.settings import get_settings
from worker.store import Store, open_store

if TYPE_CHECKING:  # a beat process of its own never imports the worker's runtime
    from worker.runtime import Runtime

log = structlog.get_logger()

TICK_ENTRY = "tick"
HEARTBEAT_S = 60.0  # the longest beat goes without sending a tick
# The longest beat goes without reading the schedules: a write that did not wake it (one
# made straight in Redis) is seen within this.
RECHECK_S = 10.0
# Beat's own connection gives up on an answer this much later than its longest wait, so a
# Redis gone silent (a partition) is noticed rather than waited on forever.
SOCKET_SLACK_S = 5.0


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
        """One turn of beat's loop: send the tick if it is time and worth it, else wait
        (for a wake) until it may be; answer how long beat may sleep."""
        now = time.monotonic()
        if now < self.next_at:
            return self.next_at - now
        self.next_at = max(self.next_at + self.interval_s, now)  # no burst after a stall
        worth_in_s = self.seconds_until_worth_sending(now)
        if worth_in_s <= 0:
            self.send_tick(now)
        elif worth_in_s > self.interval_s:
            self.wait_for_wake(min(worth_in_s, RECHECK_S))
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

    def seconds_until_worth_sending(self, now: float) -> float:
        """0 when a tick is worth sending now; else about how long until a read of the
        schedules would find one worth sending, as they stand (at least a tick interval).
        The tick claims with half a tick of lookahead and is taken from the queue a
        moment after it is sent, so anything due before the tick after this one counts."""
        heartbeat_in_s = self.last_sent_at + HEARTBEAT_S - now
        if heartbeat_in_s <= 0:
            return 0.0
        horizon = time.time() + self.interval_s
        try:
            due = self.redis_store().next_due(horizon, self.settings.poll_chunk_size)
        except StoreUnavailable:
            return 0.0  # the tick meets the outage itself
        # Polls may gather for BATCHHOOK_POLL_GATHER_S, unless a chunk's worth waits.
        gathered_at = None if due.poll_at is None else due.poll_at + self.settings.poll_gather_s
        if (
            (due.other_at is not None and due.other_at <= horizon)
            or due.polls_by_horizon >= self.settings.poll_chunk_size
            or (gathered_at is not None and gathered_at <= horizon)
        ):
            return 0.0
        later = (due.other_at, gathered_at, due.chunk_at)
        later_s = [at - horizon for at in later if at is not None]
        return max(min([*later_s, heartbeat_in_s]), self.interval_s)

    def wait_for_wake(self, timeout_s: float) -> None:
        """Wait until a write wakes beat (``Store.wake_beat``) or ``timeout_s`` passes."""
        with contextlib.suppress(StoreUnavailable):  # the next read meets the outage
            self.redis_store().wait_for_wake(timeout_s)

    def redis_store(self) -> Store:
        if self.store is None:
            self.store = open_store(self.settings, socket_timeout_s=RECHECK_S + SOCKET_SLACK_S)
        return self.store


class InProcessTickScheduler(TickScheduler):
    """Beat inside a one-process worker (``worker --concurrency 1 --beat``) runs each tick
    itself, in beat's thread with a runtime of its own (``worker.runtime.new_runtime``),
    instead of sending it through the broker to this same process. Publishing the tick,
    receiving and acknowledging it and the task's wake of beat were about half of what a
    small tick cost that worker (py-spy: ~2 of ~4.5 ms). The ticks' claims are the same
    atomic claims, so a second beat elsewhere still polls nothing twice."""

    runtime: Runtime | None = None

    def send_tick(self, now: float) -> None:
        from worker.runtime import new_runtime  # the HTTP clients: only in a worker
        from worker.tasks import run_tick

        try:
            if self.runtime is None:
                self.runtime = new_runtime()
            run_tick(self.runtime)
        except StoreUnavailable as exc:  # an outage: the next tick meets it again
            log.warning("tick_failed", error=str(exc))
        except Exception:  # any failure: beat must keep going, as the worker would
            log.exception("tick_failed")
        self.last_sent_at = now

    def close(self) -> None:
        if self.runtime is not None:
            with contextlib.suppress(Exception):  # stopping: nothing is left to keep
                self.runtime.close()
        super().close()


@contextmanager
def embedded_beat(app: Celery, wanted: bool, *, in_process: bool = False) -> Iterator[None]:
    """While the block runs, beat's loop (this scheduler) in a thread of this process, if
    ``wanted``: a one-worker deployment then needs no beat process of its own.
    ``in_process``: beat runs the ticks itself (``InProcessTickScheduler``), for a worker
    whose one pool slot would run them anyway."""
    if not wanted:
        yield
        return
    scheduler = InProcessTickScheduler if in_process else app.conf.beat_scheduler
    service = EmbeddedService(app, thread=True, scheduler_cls=scheduler)
    service.start()
    try:
        yield
    finally:
        service.service.stop(wait=False)
        _wake_waiting_beat(service.service.scheduler)
        service.stop()


def _wake_waiting_beat(scheduler: TickScheduler) -> None:
    """Cut short a wait for a wake, so the stopping thread ends now, not up to
    ``RECHECK_S`` later."""
    # A failing Redis ends the wait by itself.
    with contextlib.suppress(StoreUnavailable):
        scheduler.redis_store().wake_beat()
