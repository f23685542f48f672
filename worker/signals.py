"""What a batch-aware poller can tell beyond a status change. Pure: the clock is passed in.

From the poll just made and what the previous one left in the watch's ``summary``:

- ``batch.progress``: the share of requests done crossed one of an endpoint's steps
  (``progress_step`` %, default 10) since the previous poll; one event per step reached,
  its id derived from the step, so it is sent once however often it is seen.
- ``batch.expiring``: the batch came within an endpoint's lead time of its deadline
  (``expires_at``, else created + ``completion_window``) since the previous poll.
- ``batch.stalled``: no status change and no request finished for a threshold (one for
  ``validating``, one while running); ``batch.resumed`` when it moves again. A stall is
  named by when the batch last moved, so each stall is sent once.

Nothing is kept but the summary the poll writes anyway (``moved_at``, ``observed_at``,
the counts): a poll sees what changed since the one before it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import field
from typing import Any

from worker import events, schedule
from worker.models import (
    EXPIRING,
    PROGRESS,
    RESUMED,
    STALLED,
    BatchStatus,
    Endpoint,
    NewEvent,
    Snapshot,
    Watch,
)
from worker.records import frozen


@frozen
class StallThresholds:
    validating_s: float = 7200.0
    running_s: float = 10800.0

    def of(self, status: str | None) -> float:
        return self.validating_s if status == BatchStatus.VALIDATING else self.running_s


DEFAULT_STALL = StallThresholds()


@frozen
class Reading:
    """What this poll tells about the batch's pace, kept in the watch's summary."""

    moved_at: float  # when the status or the request counts last changed
    estimated_completion_at: float | None
    request_rate_per_s: float | None
    expires_at: float | None  # the deadline: expires_at, else created + completion_window
    stalled_since: float | None  # moved_at while a stall is open

    def summary(self) -> dict[str, Any]:
        return {
            "moved_at": self.moved_at,
            "estimated_completion_at": self.estimated_completion_at,
            "request_rate_per_s": self.request_rate_per_s,
            "expires_at": self.expires_at,
            "stalled_since": self.stalled_since,
        }


@frozen
class Signals:
    reading: Reading
    events: list[NewEvent] = field(default_factory=list)
    wake_at: float | None = None  # the next time a signal may be due: poll no later


_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def window_s(value: Any) -> float | None:
    """``completion_window`` ("24h", "7d", ...) in seconds; None when it is not one."""
    if not isinstance(value, str):
        return None
    found = _WINDOW.match(value)
    return float(found.group(1)) * _UNIT_S[found.group(2)] if found else None


def deadline_at(snapshot: Snapshot) -> float | None:
    if snapshot.expires_at is not None:
        return snapshot.expires_at
    window = window_s(snapshot.raw.get("completion_window"))
    if window is None or snapshot.created_at is None:
        return None
    return snapshot.created_at + window


def _done_total(counts: Any) -> tuple[int, int] | None:
    if not isinstance(counts, dict) or not counts.get("total"):
        return None
    done = int(counts.get("completed", 0)) + int(counts.get("failed", 0))
    return done, int(counts["total"])


def _moved_at(watch: Watch, snapshot: Snapshot, now: float) -> float:
    previous = watch.summary
    moved = previous.get("moved_at", watch.status_changed_at)
    if snapshot.word != watch.status or not isinstance(moved, int | float):
        return now
    if _done_total(previous.get("request_counts")) != _done_total(snapshot.request_counts):
        return now
    return float(moved)


def _was_stalled(watch: Watch, thresholds: StallThresholds) -> float | None:
    """The stall open at the previous poll (when the batch last moved), if one was."""
    moved, seen = watch.summary.get("moved_at"), watch.summary.get("observed_at")
    if not isinstance(moved, int | float) or not isinstance(seen, int | float):
        return None
    return float(moved) if seen >= moved + thresholds.of(watch.normalized_status) else None


def read(
    watch: Watch, snapshot: Snapshot, obs: schedule.Observation, thresholds: StallThresholds
) -> Reading:
    moved_at = _moved_at(watch, snapshot, obs.now)
    running = snapshot.status == BatchStatus.IN_PROGRESS
    eta = schedule.estimated_completion_at(obs) if running else None
    # moved_at + threshold, as _wake_at schedules it: a poll woken for a stall sees it
    stalled = not snapshot.is_terminal and obs.now >= moved_at + thresholds.of(snapshot.status)
    return Reading(
        moved_at=moved_at,
        estimated_completion_at=eta,
        request_rate_per_s=schedule.observed_rate_per_s(obs) if running else None,
        expires_at=deadline_at(snapshot),
        stalled_since=moved_at if stalled else None,
    )


def _of_watch(watch: Watch, endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    return [ep for ep in endpoints if watch.endpoint_ids is None or ep.id in watch.endpoint_ids]


def _wanting(watch: Watch, endpoints: Iterable[Endpoint], event_type: str) -> list[Endpoint]:
    return [ep for ep in _of_watch(watch, endpoints) if event_type in ep.events]


def progress_steps(
    watch: Watch, snapshot: Snapshot, endpoints: Iterable[Endpoint]
) -> dict[int, list[Endpoint]]:
    """The step (percent) each endpoint reached since the previous poll, by step."""
    now_counts = _done_total(snapshot.request_counts)
    if snapshot.status != BatchStatus.IN_PROGRESS or now_counts is None:
        return {}
    done, total = now_counts
    before = _done_total(watch.summary.get("request_counts"))
    done_before = before[0] if before is not None and before[1] == total else 0
    reached: dict[int, list[Endpoint]] = defaultdict(list)
    for ep in _wanting(watch, endpoints, PROGRESS):
        level = done * 100 // (ep.progress_step * total)
        if level > done_before * 100 // (ep.progress_step * total):
            reached[min(level * ep.progress_step, 100)].append(ep)
    return dict(reached)


def expiring_leads(
    watch: Watch, snapshot: Snapshot, reading: Reading, endpoints: Iterable[Endpoint], now: float
) -> dict[int, list[Endpoint]]:
    """The lead times (s) whose warning came due since the previous poll, by lead."""
    deadline = reading.expires_at
    if snapshot.is_terminal or deadline is None or now >= deadline:
        return {}
    seen_before = watch.summary.get("observed_at")
    due: dict[int, list[Endpoint]] = defaultdict(list)
    for ep in _wanting(watch, endpoints, EXPIRING):
        warn_at = deadline - ep.expiring_lead_s
        if now >= warn_at and not (isinstance(seen_before, int | float) and seen_before >= warn_at):
            due[ep.expiring_lead_s].append(ep)
    return dict(due)


def _wake_at(
    snapshot: Snapshot,
    reading: Reading,
    endpoints: list[Endpoint],
    now: float,
    thresholds: StallThresholds,
) -> float | None:
    """When the next expiring warning or stall comes due, for the poll to be there."""
    if snapshot.is_terminal:
        return None
    times = []
    if reading.expires_at is not None:
        times += [
            reading.expires_at - ep.expiring_lead_s for ep in endpoints if EXPIRING in ep.events
        ]
    if any(STALLED in ep.events for ep in endpoints) and reading.stalled_since is None:
        times.append(reading.moved_at + thresholds.of(snapshot.status))
    future = [t for t in times if t > now]
    return min(future) if future else None


def plan(
    watch: Watch,
    snapshot: Snapshot,
    obs: schedule.Observation,
    *,
    provider: str,
    endpoints: Iterable[Endpoint],
    thresholds: StallThresholds,
) -> Signals:
    """The signal events this poll creates, and what the summary keeps for the next."""
    now, endpoints = obs.now, list(endpoints)
    reading = read(watch, snapshot, obs, thresholds)
    made: list[NewEvent] = []
    base: list[dict[str, Any]] = []  # made once, for the first event: most polls make none

    def add(event_type: str, extra: dict[str, Any], to: list[Endpoint], *parts: str) -> None:
        if not to:
            return
        if not base:
            base.append(events.batch_signal_data(watch, snapshot, provider, reading.summary(), now))
        made.append(
            events.new_event(
                event_id=events.signal_event_id(watch, event_type, *parts),
                tenant=watch.tenant,
                event_type=event_type,
                data={**base[0], **extra},
                endpoint_ids=tuple(ep.id for ep in to),
                now=now,
                watch_id=watch.id,
                batch_id=watch.batch_id,
            )
        )

    stalled_before = _was_stalled(watch, thresholds)
    if stalled_before is not None and reading.moved_at == now:
        resumed = {"stalled_since": stalled_before, "stalled_for_s": now - stalled_before}
        add(RESUMED, resumed, _wanting(watch, endpoints, RESUMED), repr(stalled_before))
    if reading.stalled_since is not None and stalled_before != reading.stalled_since:
        stalled = {"stalled_for_s": round(now - reading.stalled_since, 3)}
        add(STALLED, stalled, _wanting(watch, endpoints, STALLED), repr(reading.stalled_since))
    for step, to in sorted(progress_steps(watch, snapshot, endpoints).items()):
        add(PROGRESS, {"progress_step": step}, to, str(step))
    for lead, to in sorted(expiring_leads(watch, snapshot, reading, endpoints, now).items()):
        add(EXPIRING, expiring_data(reading, lead), to, str(lead))
    wake_at = _wake_at(snapshot, reading, _of_watch(watch, endpoints), now, thresholds)
    return Signals(reading=reading, events=made, wake_at=wake_at)


def expiring_data(reading: Reading, lead_s: int) -> dict[str, Any]:
    eta, deadline = reading.estimated_completion_at, reading.expires_at
    shortfall = None
    if eta is not None and deadline is not None and eta > deadline:
        shortfall = round(eta - deadline, 3)
    return {"lead_time_s": lead_s, "projected_shortfall_s": shortfall}
