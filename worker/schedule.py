"""When to poll each batch next. Pure functions: pass the clock in."""

from __future__ import annotations

import random

# (age of the watch in seconds, interval while younger than that)
YOUNG_BATCH_INTERVALS_S: tuple[tuple[float, float], ...] = (
    (120.0, 5.0),
    (600.0, 15.0),
    (3600.0, 30.0),
)
SETTLED_INTERVAL_S = 60.0
MAX_ERROR_BACKOFF_S = 900.0
JITTER_FRACTION = 0.1


def default_interval_s(age_s: float) -> float:
    """Poll young batches often (many finish within minutes), then back off to a minute."""
    for younger_than_s, interval_s in YOUNG_BATCH_INTERVALS_S:
        if age_s < younger_than_s:
            return interval_s
    return SETTLED_INTERVAL_S


def next_poll_at(
    *,
    now: float,
    created_at: float,
    poll_interval_s: float | None,
    rng: random.Random | None = None,
) -> float:
    """The next poll of a batch that answered normally.

    An explicit ``poll_interval`` is kept exactly; the default gets a little jitter so
    batches registered together do not stay in lockstep.
    """
    if poll_interval_s is not None:
        return now + poll_interval_s
    interval_s = default_interval_s(now - created_at)
    jitter = (rng or random).uniform(-JITTER_FRACTION, JITTER_FRACTION) * interval_s
    return now + interval_s + jitter


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
