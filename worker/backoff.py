"""Delay before the next delivery attempt: the retry schedule, jitter and Retry-After."""

from __future__ import annotations

import datetime
import email.utils
import random
from collections.abc import Mapping

JITTER_FRACTION = 0.2
MAX_RETRY_AFTER_S = 86400.0


def parse_retry_after_s(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            return min(max(float(raw_ms) / 1000.0, 0.0), MAX_RETRY_AFTER_S)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if not raw:
        return None
    try:
        return min(max(float(raw), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # asctime and "-0000" dates carry no zone: HTTP dates are GMT
        when = when.replace(tzinfo=datetime.UTC)
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER_S)


def retry_delay_s(
    schedule_s: tuple[float, ...],
    attempts_made: int,
    *,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Delay after the ``attempts_made``-th failed attempt, or None when none is left.

    The schedule's delay gets up to 20% jitter either way; a ``Retry-After`` longer
    than that wins.
    """
    if attempts_made < 1 or attempts_made > len(schedule_s):
        return None
    base_s = schedule_s[attempts_made - 1]
    jitter = (rng or random).uniform(-JITTER_FRACTION, JITTER_FRACTION)
    delay_s = base_s * (1 + jitter)
    if retry_after_s is not None:
        delay_s = max(delay_s, retry_after_s)
    return delay_s
