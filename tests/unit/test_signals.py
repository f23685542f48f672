"""Progress, expiry and stall signals, planned from one poll and the summary before it."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from tests.unit.test_transitions import NOW, a_watch, an_endpoint
from worker import schedule, transitions
from worker.models import (
    EXPIRING,
    PROGRESS,
    RESUMED,
    STALLED,
    Endpoint,
    PollRecord,
    Snapshot,
    Watch,
)
from worker.signals import StallThresholds, window_s

HOUR = 3600.0
CREATED = NOW - 2 * HOUR


def running(done: int, total: int = 100, **raw: Any) -> Snapshot:
    counts = {"total": total, "completed": done, "failed": 0}
    body = {"id": "batch_1", "status": "in_progress", "request_counts": counts, **raw}
    return Snapshot(
        batch_id="batch_1",
        status="in_progress",
        output_file_id=None,
        error_file_id=None,
        request_counts=counts,
        raw=body,
        created_at=CREATED,
        expires_at=raw.get("expires_at"),
    )


def seen(done: int, at: float, moved_at: float, total: int = 100) -> Watch:
    """A watch whose previous poll, at ``at``, saw ``done`` requests finished."""
    summary = {
        "normalized_status": "in_progress",
        "request_counts": {"total": total, "completed": done, "failed": 0},
        "observed_at": at,
        "moved_at": moved_at,
    }
    return a_watch(status="in_progress", summary=summary, status_changed_at=CREATED)


def subscriber(*types: str, **options: Any) -> Endpoint:
    return replace(an_endpoint("ep_" + "_".join(t.split(".")[1] for t in types), types), **options)


def poll(watch: Watch, snapshot: Snapshot, *endpoints: Endpoint, now: float = NOW) -> PollRecord:
    return transitions.plan_snapshot(
        watch,
        snapshot,
        provider="openai",
        endpoints=endpoints,
        now=now,
        stall=StallThresholds(validating_s=2 * HOUR, running_s=3 * HOUR),
    )


def data(record: PollRecord, event_type: str) -> list[dict[str, Any]]:
    return [json.loads(e.body)["data"] for e in record.signals if e.type == event_type]


def test_progress_is_sent_once_per_step_reached_with_the_estimators_eta() -> None:
    ep = subscriber(PROGRESS)
    watch = seen(5, at=NOW - 60, moved_at=NOW - 60)

    record = poll(watch, running(25), ep)

    [progress] = data(record, PROGRESS)
    assert progress["progress_step"] == 20  # 10 and 20 were crossed: one event, the last
    assert progress["progress"] == {"completed": 25, "failed": 0, "total": 100, "percent": 25.0}
    obs = transitions.observation(watch, running(25), NOW)
    assert progress["estimated_completion_at"] == schedule.estimated_completion_at(obs)
    assert progress["request_rate_per_s"] == schedule.observed_rate_per_s(obs)
    assert record.signals[0].endpoint_ids == (ep.id,)

    again = poll(watch, running(25), ep)
    assert [e.id for e in again.signals] == [e.id for e in record.signals]  # the same id
    later = poll(seen(25, at=NOW, moved_at=NOW), running(29), ep, now=NOW + 60)
    assert data(later, PROGRESS) == []


def test_each_endpoint_gets_the_steps_of_its_own_progress_step() -> None:
    tens, quarters = (
        subscriber(PROGRESS),
        replace(subscriber(PROGRESS), id="ep_q", progress_step=25),
    )

    record = poll(seen(19, at=NOW - 60, moved_at=NOW - 60), running(26), tens, quarters)

    by_step = {json.loads(e.body)["data"]["progress_step"]: e.endpoint_ids for e in record.signals}
    assert by_step == {20: ("ep_progress",), 25: ("ep_q",)}


def test_no_progress_without_a_subscriber_or_once_the_batch_ended() -> None:
    watch = seen(5, at=NOW - 60, moved_at=NOW - 60)
    assert poll(watch, running(50), an_endpoint("ep_default")).signals == ()

    ended = replace(running(100), status="completed", raw={"status": "completed"})
    record = poll(watch, ended, subscriber(PROGRESS))
    assert record.event is not None and record.event.type == "batch.completed"
    assert data(record, PROGRESS) == []


def test_expiring_is_sent_once_within_the_lead_time_with_the_projected_shortfall() -> None:
    ep = subscriber(EXPIRING, expiring_lead_s=3600)
    deadline = NOW + 1800.0  # 30 min left; at 1 request a minute, 90 need 90 min
    before_warning = seen(9, at=deadline - 4000, moved_at=NOW - 600)

    record = poll(before_warning, running(10, expires_at=deadline), ep)

    [expiring] = data(record, EXPIRING)
    assert expiring["expires_at"] == deadline
    assert expiring["lead_time_s"] == 3600
    assert expiring["projected_shortfall_s"] == expiring["estimated_completion_at"] - deadline
    assert expiring["projected_shortfall_s"] > 0
    after_warning = seen(10, at=NOW, moved_at=NOW)
    assert (
        data(poll(after_warning, running(11, expires_at=deadline), ep, now=NOW + 60), EXPIRING)
        == []
    )


def test_the_deadline_falls_back_to_created_plus_completion_window() -> None:
    ep = subscriber(EXPIRING, expiring_lead_s=3 * 3600)
    snapshot = running(10, completion_window="4h")  # created 2 h ago: 2 h left

    watch = seen(9, at=NOW - 1.5 * HOUR, moved_at=NOW - 60)  # polled before the warning

    [expiring] = data(poll(watch, snapshot, ep), EXPIRING)

    assert expiring["expires_at"] == CREATED + 4 * HOUR
    assert window_s("24h") == 86400 and window_s("7d") == 7 * 86400 and window_s("soon") is None


def test_the_next_poll_comes_no_later_than_a_warning_due_before_it() -> None:
    ep = subscriber(EXPIRING, expiring_lead_s=3600)
    deadline = NOW + 3600 + 5  # the warning is due in 5 s

    record = poll(seen(9, at=NOW - 60, moved_at=NOW - 60), running(10, expires_at=deadline), ep)

    assert data(record, EXPIRING) == []
    assert record.next_poll_at == deadline - 3600


def test_a_stall_is_sent_once_and_resumed_when_the_batch_moves_again() -> None:
    ep = subscriber(STALLED, RESUMED)
    last_moved = NOW - 3 * HOUR - 10
    just_before = seen(40, at=NOW - 60, moved_at=last_moved)

    record = poll(just_before, running(40), ep)

    [stalled] = data(record, STALLED)
    assert stalled["stalled_for_s"] == NOW - last_moved
    assert record.summary is not None and record.summary["stalled_since"] == last_moved
    still = seen(40, at=NOW, moved_at=last_moved)
    assert poll(still, running(40), ep, now=NOW + 600).signals == ()

    moving = poll(still, running(41), ep, now=NOW + 900)

    [resumed] = data(moving, RESUMED)
    assert resumed["stalled_since"] == last_moved
    assert data(moving, STALLED) == []
    assert moving.summary is not None and moving.summary["stalled_since"] is None


def test_validating_stalls_after_its_own_threshold() -> None:
    ep = subscriber(STALLED)
    watch = a_watch(
        status="validating",
        summary={
            "normalized_status": "validating",
            "observed_at": NOW - 60,
            "moved_at": NOW - 2 * HOUR - 1,
        },
    )
    snapshot = replace(
        running(0), status="validating", request_counts=None, raw={"status": "validating"}
    )

    assert [e.type for e in poll(watch, snapshot, ep).signals] == [STALLED]


def test_a_poll_woken_for_a_stall_sees_it_whatever_the_rounding() -> None:
    """The poll is brought forward to moved_at + threshold; at that very time the stall is
    open, even where ``now - moved_at`` rounds to just under the threshold."""
    ep = subscriber(STALLED)
    moved = 62572.030410805404  # (moved + 3 h) - moved < 3 h in floating point
    woken_at = moved + 3 * HOUR
    before = seen(40, at=woken_at - 5, moved_at=moved)
    waiting = poll(before, running(40), ep, now=woken_at - 5)
    assert waiting.next_poll_at == woken_at

    assert [e.type for e in poll(before, running(40), ep, now=woken_at).signals] == [STALLED]
