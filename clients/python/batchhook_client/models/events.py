"""What was sent: events, their deliveries and attempts; recoveries; the catalog."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batchhook_client import _fields as f

Raw = Mapping[str, Any]


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt: when, the HTTP status (None: no answer), how long, the
    first bytes of the answer and the error."""

    attempt: int
    at: float | None
    status_code: int | None
    latency_ms: float | None
    response: str | None
    error: str | None
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> Attempt:
        return cls(
            attempt=f.integer(d, "attempt") or 0,
            at=f.number(d, "at"),
            status_code=f.integer(d, "status_code"),
            latency_ms=f.number(d, "latency_ms"),
            response=f.opt_text(d, "response"),
            error=f.opt_text(d, "error"),
            raw=d,
        )


@dataclass(frozen=True)
class Delivery:
    """An event's delivery to one endpoint: ``state`` is "pending", "succeeded" or
    "failed"; ``deferred`` says why a pending one waits (circuit, throttle)."""

    endpoint_id: str
    state: str
    next_attempt_at: float | None
    deferred: str | None
    attempts: tuple[Attempt, ...]
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> Delivery:
        return cls(
            endpoint_id=f.text(d, "endpoint_id"),
            state=f.text(d, "state"),
            next_attempt_at=f.number(d, "next_attempt_at"),
            deferred=f.opt_text(d, "deferred"),
            attempts=tuple(Attempt.from_dict(a) for a in f.objects(d, "attempts")),
            raw=d,
        )


@dataclass(frozen=True)
class Event:
    """An event as the API keeps it: ``payload`` is the webhook body that was sent
    (``webhooks.parse_event(event.payload)`` types it), with every delivery."""

    id: str
    type: str
    created_at: int | None
    batch_id: str | None
    payload: dict[str, Any]
    deliveries: tuple[Delivery, ...]
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> Event:
        return cls(
            id=f.text(d, "id"),
            type=f.text(d, "type"),
            created_at=f.integer(d, "created_at"),
            batch_id=f.opt_text(d, "batch_id"),
            payload=f.mapping(d, "payload"),
            deliveries=tuple(Delivery.from_dict(x) for x in f.objects(d, "deliveries")),
            raw=d,
        )


@dataclass(frozen=True)
class Recovery:
    """A background redelivery of an endpoint's failed deliveries in [since, until];
    ``status`` is "queued", "running" or "completed"."""

    id: str
    endpoint_id: str
    status: str
    since: float | None
    until: float | None
    redelivered: int | None
    created_at: int | None
    finished_at: float | None
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> Recovery:
        return cls(
            id=f.text(d, "id"),
            endpoint_id=f.text(d, "endpoint_id"),
            status=f.text(d, "status"),
            since=f.number(d, "since"),
            until=f.number(d, "until"),
            redelivered=f.integer(d, "redelivered"),
            created_at=f.integer(d, "created_at"),
            finished_at=f.number(d, "finished_at"),
            raw=d,
        )


@dataclass(frozen=True)
class EventType:
    """One entry of the event catalog; ``subscription`` is "default" or "opt-in" and
    ``sample`` a sample body (``webhooks.parse_event(t.sample)`` types it)."""

    name: str
    description: str
    subscription: str
    sample: dict[str, Any]
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> EventType:
        return cls(
            name=f.text(d, "name"),
            description=f.text(d, "description"),
            subscription=f.text(d, "subscription"),
            sample=f.mapping(d, "sample"),
            raw=d,
        )
