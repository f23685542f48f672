"""Endpoint health: circuit breaker, throttle and automatic disabling. Pure: clock passed in.

A failed attempt (not 2xx, timeout, connection error) adds to the endpoint's run of
consecutive failures; a success ends the run. From ``threshold`` failures on, the
circuit is open for a cool-down that doubles with each further failure (capped); when it
ends, one delivery goes through as a half-open probe. While the circuit is open the
endpoint's deliveries are deferred, not attempted, so they use up none of their retries.
An endpoint failing without a break for ``disable_after_s`` is disabled.
"""

from __future__ import annotations

import math

from worker import events
from worker.models import ENDPOINT_DISABLED, Endpoint, NewEvent
from worker.records import frozen

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@frozen
class CircuitPolicy:
    threshold: int
    cooldown_s: float
    max_cooldown_s: float


@frozen
class Admission:
    """How many of an endpoint's claimed deliveries go now, and when the rest come back."""

    granted: int
    retry_at: float  # 0: nothing held back
    rate_per_s: int  # the throttle that applied (0: none)
    reason: str  # "circuit open", "circuit probing", "rate limited" or ""


def cooldown_s(failures: int, policy: CircuitPolicy) -> float | None:
    """How long the circuit stays open after this many consecutive failures (None: closed)."""
    if policy.threshold <= 0 or failures < policy.threshold:
        return None
    doublings = min(failures - policy.threshold, 32)
    return float(min(policy.cooldown_s * 2.0**doublings, policy.max_cooldown_s))


def circuit_state(failures: int, open_until: float, policy: CircuitPolicy, now: float) -> str:
    if policy.threshold <= 0 or failures < policy.threshold:
        return CLOSED
    return OPEN if open_until > now else HALF_OPEN


def should_disable(failing_since: float | None, *, now: float, disable_after_s: float) -> bool:
    """True once the endpoint has failed without a success for ``disable_after_s``."""
    return (
        failing_since is not None and disable_after_s > 0 and now - failing_since >= disable_after_s
    )


def deferred_at(admission: Admission, waiting: int, now: float) -> list[float]:
    """When each held-back delivery is next claimed: after the circuit's cool-down, or
    spread over the following seconds at the endpoint's rate."""
    if admission.rate_per_s > 0 and admission.reason == "rate limited":
        second = math.floor(now) + 1
        return [second + slot // admission.rate_per_s for slot in range(waiting)]
    return [admission.retry_at] * waiting


def disabled_reason(failing_since: float, now: float) -> str:
    hours = (now - failing_since) / 3600
    return f"every delivery failed for {hours:.1f} h"


def disabled_event(
    endpoint: Endpoint, reason: str, others: list[Endpoint], now: float
) -> NewEvent | None:
    """The ``endpoint.disabled`` event for the tenant's other endpoints that subscribe to it."""
    targets = tuple(
        ep.id
        for ep in others
        if ep.id != endpoint.id and not ep.disabled and ENDPOINT_DISABLED in ep.events
    )
    if not targets:
        return None
    disabled_at = int(now)
    data = events.endpoint_disabled_data(endpoint, reason, disabled_at)
    return events.new_event(
        event_id=events.endpoint_disabled_event_id(endpoint, disabled_at),
        tenant=endpoint.tenant,
        event_type=ENDPOINT_DISABLED,
        data=data,
        endpoint_ids=targets,
        now=now,
    )
