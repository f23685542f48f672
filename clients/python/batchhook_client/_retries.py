"""When a failed call is tried again, and after how long. Pure: the clock and the
randomness are passed in.

- ``429`` and ``503`` are retried for every call: the API refused before acting.
- ``502``, ``504``, timeouts and broken connections only for an idempotent call (every
  GET, PATCH and DELETE, and ``POST /v1/batches``): the first try may have been carried
  out, and only such a call may safely be repeated.
- A connection that was never made (refused, DNS, connect timeout) is retried for every
  call: nothing was sent.

The wait is the answer's ``Retry-After`` (seconds or an HTTP date), at most
``MAX_RETRY_AFTER_S``; without one, exponential back-off with jitter.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping

import httpx

ALWAYS_RETRIED = frozenset({429, 503})
RETRIED_IF_IDEMPOTENT = frozenset({502, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 8.0
MAX_RETRY_AFTER_S = 60.0
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def retries_status(status_code: int, *, idempotent: bool) -> bool:
    if status_code in ALWAYS_RETRIED:
        return True
    return idempotent and status_code in RETRIED_IF_IDEMPOTENT


def retries_error(error: httpx.TransportError, *, idempotent: bool) -> bool:
    """A transport failure: retried when the request never left, or the call is
    idempotent and the failure is a network one (not a bad URL or proxy setting)."""
    if isinstance(error, NOT_SENT):
        return True
    return idempotent and isinstance(
        error, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError
    )


def retry_after_s(headers: Mapping[str, str], *, now: float) -> float | None:
    """The wait an answer asks for: ``Retry-After`` in seconds or as an HTTP date."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def delay_s(retry: int, asked_s: float | None, *, jitter: float) -> float:
    """How long to wait before retry number ``retry`` (0 for the first): what the
    server asked for (capped), else 0.5 s doubling up to 8 s, less up to a quarter
    (``jitter`` is a random number in [0, 1))."""
    if asked_s is not None:
        return min(asked_s, MAX_RETRY_AFTER_S)
    backoff = min(BACKOFF_BASE_S * 2.0**retry, BACKOFF_MAX_S)
    return backoff * (1 - 0.25 * jitter)
