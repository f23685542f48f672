"""From a poll's outcome to what the store must record. Pure: no I/O, clock passed in.

A poll whose status differs from the last-seen one becomes an event (the first poll
counts as a change, so a batch first seen already finished notifies once). A terminal
status stops polling; a permanent provider error stops polling with batch.watch_failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from worker import events, schedule, signals
from worker.errors import Permanent, ProviderError
from worker.models import (
    UNKNOWN_STATUS,
    WATCH_FAILED,
    Endpoint,
    NewEvent,
    PollRecord,
    Snapshot,
    Watch,
    event_type_for,
)


def subscribed(watch: Watch, endpoints: Iterable[Endpoint], event_type: str) -> tuple[str, ...]:
    """The endpoints that get this event: the watch's list (or all), filtered by type."""
    chosen = [
        ep
        for ep in endpoints
        if (watch.endpoint_ids is None or ep.id in watch.endpoint_ids) and event_type in ep.events
    ]
    return tuple(ep.id for ep in chosen)


def make_event(
    watch: Watch,
    event_type: str,
    data: dict[str, Any],
    endpoints: Iterable[Endpoint],
    now: float,
    *,
    event_id: str,
) -> NewEvent:
    return events.new_event(
        event_id=event_id,
        tenant=watch.tenant,
        event_type=event_type,
        data=data,
        endpoint_ids=subscribed(watch, endpoints, event_type),
        now=now,
        watch_id=watch.id,
        batch_id=watch.batch_id,
    )


def changes_status(watch: Watch, snapshot: Snapshot) -> bool:
    return snapshot.word != watch.status


def _progress(counts: Any, at: Any) -> schedule.Progress | None:
    if not isinstance(counts, dict) or not isinstance(at, int | float):
        return None
    done = int(counts.get("completed", 0)) + int(counts.get("failed", 0))
    return schedule.Progress(at=float(at), done=done, total=int(counts.get("total", 0)))


def observation(watch: Watch, snapshot: Snapshot, now: float) -> schedule.Observation:
    """What the schedule learns from: this poll, and the previous one the watch kept."""
    unchanged = not changes_status(watch, snapshot)
    return schedule.Observation(
        now=now,
        status=snapshot.status,
        watch_created_at=watch.created_at,
        batch_created_at=snapshot.created_at,
        expires_at=snapshot.expires_at,
        progress=_progress(snapshot.request_counts, now),
        previous_progress=_progress(
            watch.summary.get("request_counts"), watch.summary.get("observed_at")
        ),
        status_since=watch.status_changed_at if unchanged else now,
    )


def plan_snapshot(
    watch: Watch,
    snapshot: Snapshot,
    *,
    provider: str,
    endpoints: Iterable[Endpoint],
    now: float,
    stall: signals.StallThresholds = signals.DEFAULT_STALL,
) -> PollRecord:
    endpoints = list(endpoints)
    obs = observation(watch, snapshot, now)
    found = signals.plan(
        watch, snapshot, obs, provider=provider, endpoints=endpoints, thresholds=stall
    )
    next_at = None
    if not snapshot.is_terminal:
        next_at = schedule.next_poll_at(
            now=now,
            created_at=watch.created_at,
            poll_interval_s=watch.poll_interval_s,
            observation=obs,
            due_at=watch.next_poll_at,
        )
        if found.wake_at is not None:  # a warning due before then is sent on time
            next_at = min(next_at, found.wake_at)
    event = None
    if changes_status(watch, snapshot) and snapshot.status != UNKNOWN_STATUS:
        data = events.batch_data(watch, snapshot, provider, now)
        event_id = events.status_event_id(watch, snapshot.word)
        event_type = event_type_for(snapshot.status)
        event = make_event(watch, event_type, data, endpoints, now, event_id=event_id)
    return PollRecord(
        watch_id=watch.id,
        tenant=watch.tenant,
        now=now,
        next_poll_at=next_at,
        expected_status=watch.status,
        status=snapshot.word,
        snapshot=snapshot.raw if snapshot.names_result_files else None,
        summary={**snapshot.summary(now), **found.reading.summary()},
        event=event,
        signals=tuple(found.events),
    )


NOT_FOUND = 404
TOO_MANY_REQUESTS = 429


def is_rate_limited(error: ProviderError) -> bool:
    """A 429 that says when to come back: its connection is paused that long (the
    poller's ``_pause_rate_limited``), which is the whole answer; the batch's own
    back-off does not grow with it, as it does for 5xx answers and timeouts."""
    return error.status_code == TOO_MANY_REQUESTS and error.retry_after_s is not None


def within_not_found_grace(
    watch: Watch, error: ProviderError, *, grace_s: float, now: float
) -> float | None:
    """Pure: the first-404 time to keep if this 404 is still within the grace, else None.

    A batch just created may not be visible at once, so a 404 is retried until it has
    lasted ``grace_s``; 401/403 (a revoked key) and a deleted connection fail at once.
    """
    if error.status_code != NOT_FOUND or grace_s <= 0:
        return None
    since = watch.not_found_since if watch.errors > 0 and watch.not_found_since else now
    return since if now - since < grace_s else None


def plan_error(
    watch: Watch,
    error: ProviderError,
    *,
    provider: str,
    endpoints: Iterable[Endpoint],
    now: float,
    not_found_grace_s: float = 0.0,
) -> PollRecord:
    message = str(error)
    not_found_since = within_not_found_grace(watch, error, grace_s=not_found_grace_s, now=now)
    if not isinstance(error, Permanent) or not_found_since is not None:
        base_s = watch.poll_interval_s or schedule.default_interval_s(now - watch.created_at)
        backs_off = not is_rate_limited(error)
        next_at = schedule.next_poll_after_error_at(
            now=now,
            consecutive_errors=watch.backoff_errors + 1 if backs_off else 1,
            base_interval_s=base_s,
            retry_after_s=error.retry_after_s,
        )
        if not_found_since is not None:  # poll again no later than the grace's end
            next_at = min(next_at, max(now, not_found_since + not_found_grace_s))
        return PollRecord(
            watch_id=watch.id,
            tenant=watch.tenant,
            now=now,
            next_poll_at=next_at,
            error=message,
            not_found_since=not_found_since,
            backs_off=backs_off,
        )
    data = events.watch_failed_data(
        watch, message=message, status_code=error.status_code, provider=provider, now=now
    )
    event_id = events.watch_failed_event_id(watch)
    event = make_event(watch, WATCH_FAILED, data, endpoints, now, event_id=event_id)
    return PollRecord(
        watch_id=watch.id,
        tenant=watch.tenant,
        now=now,
        next_poll_at=None,
        error=message,
        event=event,
    )
