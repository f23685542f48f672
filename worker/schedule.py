"""When to poll each batch next. Pure functions: pass the clock in.

An explicit ``poll_interval`` is kept exactly. Otherwise the adaptive policy
(``adaptive_next_poll_at``) spends calls where a change is likely:

- ``validating``, ``finalizing``, ``cancelling`` (and unknown words) are usually short:
  poll soon, backing off in proportion to the time already spent in the status.
- ``in_progress``: estimate when the last request finishes from ``request_counts`` (the
  faster of the rates since the run was first seen and since the previous poll), never
  later than ``expires_at``; wait a share of the distance to that estimate, so polls are
  sparse far from it and dense around it, but no longer than the run has been watched
  (an estimate from a short look misleads). A larger share when the previous poll's
  counts gave the same estimate (a steady run: each poll confirms the last). Once that
  share is under the floor, poll at the estimate itself rather than at the floor before
  it. Without counts, back off with the time spent running.
- Every interval is clamped to ``[MIN_INTERVAL_S, MAX_INTERVAL_S]`` (a failure mid-run
  is still seen within the cap) and jittered within those bounds, so batches registered
  together do not stay in lockstep.

Provider errors back off exponentially (``next_poll_after_error_at``).
"""

from __future__ import annotations

import random

from worker.models import TERMINAL, BatchStatus
from worker.records import frozen

# (age of the watch in seconds, interval while younger than that): the schedule when
# nothing is known about the batch, and the base of the error back-off.
YOUNG_BATCH_INTERVALS_S: tuple[tuple[float, float], ...] = (
    (120.0, 5.0),
    (600.0, 15.0),
    (3600.0, 30.0),
)
SETTLED_INTERVAL_S = 60.0
MAX_ERROR_BACKOFF_S = 900.0
JITTER_FRACTION = 0.1

MIN_INTERVAL_S = 15.0
MAX_INTERVAL_S = 900.0
# Wait this share of the time already spent in a short status (validating, ...), at most
# SHORT_PHASE_MAX_S: a status that is usually short is polled often however long it lasts.
SHORT_PHASE_SHARE = 0.5
SHORT_PHASE_MAX_S = 60.0
# Wait this share of the time already spent in_progress when counts tell nothing ...
RUNNING_SHARE = 0.25
# ... and at most this share when they do: an estimate from a short look misleads.
EVIDENCE_SHARE = 1.0
# Wait this share of the distance to the estimated completion (or the expiry) ...
APPROACH_SHARE = 0.3
# ... or this share when the previous poll's counts estimated the same completion, within
# CONFIRMING_TOLERANCE of the distance left: at a steady rate, fewer polls on the way.
CONFIRMED_APPROACH_SHARE = 0.4
CONFIRMING_TOLERANCE = 0.05


@frozen
class Progress:
    """Request counts as one poll saw them."""

    at: float  # when observed (unix s)
    done: int  # requests finished, successfully or not
    total: int  # all requests; 0 when unknown


@frozen
class Observation:
    """What the poller knows about a batch when it picks the next poll."""

    now: float
    status: str  # normalised status, or "unknown"
    watch_created_at: float
    batch_created_at: float | None
    expires_at: float | None
    progress: Progress | None
    previous_progress: Progress | None  # None on the first poll
    status_since: float | None  # when the current status was first seen


def default_interval_s(age_s: float) -> float:
    """Poll young batches often (many finish within minutes), then back off to a minute."""
    for younger_than_s, interval_s in YOUNG_BATCH_INTERVALS_S:
        if age_s < younger_than_s:
            return interval_s
    return SETTLED_INTERVAL_S


def _status_since(obs: Observation) -> float:
    return obs.watch_created_at if obs.status_since is None else obs.status_since


def _time_in_status_s(obs: Observation) -> float:
    return max(obs.now - _status_since(obs), 0.0)


def _rate_per_s(done_before: int, since: float, progress: Progress) -> float:
    elapsed_s = progress.at - since
    return (progress.done - done_before) / elapsed_s if elapsed_s > 0 else 0.0


def observed_rate_per_s(obs: Observation) -> float | None:
    """Requests finished per second: of the two rates, since the status was first seen
    and since the previous poll, the faster (a poll a little early costs one call, a poll
    late costs delay); None without counts."""
    progress = obs.progress
    if progress is None or progress.total <= 0:
        return None
    rates = [_rate_per_s(0, _status_since(obs), progress)]
    previous = obs.previous_progress
    if previous is not None and previous.total == progress.total:
        rates.append(_rate_per_s(previous.done, previous.at, progress))
    return max(rates)


def estimated_completion_at(obs: Observation) -> float | None:
    """When the last request should finish at the observed rate; None if unknown."""
    rate = observed_rate_per_s(obs)
    if obs.progress is None or rate is None or rate <= 0:
        return None
    return obs.progress.at + max(obs.progress.total - obs.progress.done, 0) / rate


def previous_estimate_at(obs: Observation) -> float | None:
    """When the previous poll's counts (at their rate since the status was first seen)
    put the last request; None without them, or if the total changed in between."""
    previous, progress = obs.previous_progress, obs.progress
    if previous is None or progress is None or previous.total != progress.total:
        return None
    rate = _rate_per_s(0, _status_since(obs), previous)
    if rate <= 0:
        return None
    return previous.at + max(previous.total - previous.done, 0) / rate


def _approach_share(obs: Observation, eta: float) -> float:
    """The larger share when the previous poll's estimate confirms this one."""
    previous_eta = previous_estimate_at(obs)
    if previous_eta is None:
        return APPROACH_SHARE
    if abs(previous_eta - eta) <= CONFIRMING_TOLERANCE * abs(eta - obs.now):
        return CONFIRMED_APPROACH_SHARE
    return APPROACH_SHARE


def _approach_s(target_at: float, now: float, share: float = APPROACH_SHARE) -> float:
    return share * abs(target_at - now)


def _all_requests_done(progress: Progress | None) -> bool:
    return progress is not None and 0 < progress.total <= progress.done


def _running_interval_s(obs: Observation) -> float:
    running_s = _time_in_status_s(obs)
    eta = estimated_completion_at(obs)
    if eta is None:
        return RUNNING_SHARE * running_s
    approach_s = _approach_s(eta, obs.now, _approach_share(obs, eta))
    if approach_s < MIN_INTERVAL_S and eta > obs.now:
        # Close to the estimate: the last requests are still running until it, and the
        # batch still has to finalize after them, so polls at the floor before it can
        # only find it running. Poll at the estimate itself (which leans early: see
        # observed_rate_per_s).
        approach_s = eta - obs.now
    return min(EVIDENCE_SHARE * running_s, approach_s)


def adaptive_interval_s(obs: Observation) -> float:
    """Seconds to the next poll, before jitter and clamping."""
    if obs.status in TERMINAL:
        return MAX_INTERVAL_S
    if obs.status == BatchStatus.IN_PROGRESS and not _all_requests_done(obs.progress):
        interval_s = _running_interval_s(obs)
    else:  # a short status, an unknown word, or every request already finished
        interval_s = min(SHORT_PHASE_SHARE * _time_in_status_s(obs), SHORT_PHASE_MAX_S)
    if obs.expires_at is not None:
        interval_s = min(interval_s, _approach_s(obs.expires_at, obs.now))
    return interval_s


def _jittered_within_bounds_s(interval_s: float, rng: random.Random | None) -> float:
    """The interval clamped to the floor and cap, then jittered without leaving them."""
    clamped_s = min(max(interval_s, MIN_INTERVAL_S), MAX_INTERVAL_S)
    low_s = max(clamped_s * (1.0 - JITTER_FRACTION), MIN_INTERVAL_S)
    high_s = min(clamped_s * (1.0 + JITTER_FRACTION), MAX_INTERVAL_S)
    return (rng or random).uniform(low_s, high_s)


def adaptive_next_poll_at(obs: Observation, *, rng: random.Random | None = None) -> float:
    """The next poll under the adaptive policy (see the module docstring)."""
    return obs.now + _jittered_within_bounds_s(adaptive_interval_s(obs), rng)


def next_poll_at(
    *,
    now: float,
    created_at: float,
    poll_interval_s: float | None,
    rng: random.Random | None = None,
    observation: Observation | None = None,
    due_at: float | None = None,
) -> float:
    """The next poll of a batch that answered normally.

    An explicit ``poll_interval`` is kept exactly: counted from when this poll was due
    (``due_at``), so the time a poll waits for its tick and takes to answer does not add
    up, poll after poll; a poll made early (an inbound webhook) or so late that the next
    one would be due already counts from ``now``. Otherwise an ``observation`` gets the
    adaptive policy and, without one, the age-based default applies; both get a little
    jitter so batches registered together do not stay in lockstep.
    """
    if poll_interval_s is not None:
        return fixed_next_poll_at(now, poll_interval_s, due_at)
    if observation is not None:
        return adaptive_next_poll_at(observation, rng=rng)
    interval_s = default_interval_s(now - created_at)
    jitter = (rng or random).uniform(-JITTER_FRACTION, JITTER_FRACTION) * interval_s
    return now + interval_s + jitter


def fixed_next_poll_at(now: float, interval_s: float, due_at: float | None) -> float:
    if due_at is not None and due_at <= now < due_at + interval_s:
        return due_at + interval_s
    return now + interval_s


def next_poll_after_error_at(
    *,
    now: float,
    consecutive_errors: int,
    base_interval_s: float,
    retry_after_s: float | None,
) -> float:
    """Back off exponentially on provider errors, never sooner than ``Retry-After``."""
    growth = 2.0 ** max(consecutive_errors - 1, 0)
    backoff_s = min(base_interval_s * growth, MAX_ERROR_BACKOFF_S)
    if retry_after_s is not None:
        backoff_s = max(backoff_s, retry_after_s)
    return now + backoff_s
