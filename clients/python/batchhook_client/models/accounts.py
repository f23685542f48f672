"""Accounts and subscriptions: connections, endpoints, and the answers around them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from batchhook_client import _fields as f

Raw = Mapping[str, Any]

T = TypeVar("T")


@dataclass(frozen=True)
class Connection:
    """A provider account batchhook polls with; its key is never shown.
    ``last_discovery_at``: its account's last listing (``watch_all`` only);
    ``paused_until``: the provider's 429 pause of its polls, while it lasts."""

    id: str
    provider: str
    base_url: str
    headers: dict[str, str]  # names, with credential values shown as "[redacted]"
    params: dict[str, Any] | None
    watch_all: bool
    has_webhook_secret: bool
    created_at: int | None
    last_discovery_at: float | None = None
    paused_until: float | None = None
    rate_limit_pauses: int | None = None  # how many times a 429 paused its polls
    last_paused_at: float | None = None
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> Connection:
        return cls(
            id=f.text(d, "id"),
            provider=f.text(d, "provider"),
            base_url=f.text(d, "base_url"),
            headers={k: str(v) for k, v in f.mapping(d, "headers").items()},
            params=f.opt_mapping(d, "params"),
            watch_all=f.flag(d, "watch_all"),
            has_webhook_secret=f.flag(d, "has_webhook_secret"),
            created_at=f.integer(d, "created_at"),
            last_discovery_at=f.number(d, "last_discovery_at"),
            paused_until=f.number(d, "paused_until"),
            rate_limit_pauses=f.integer(d, "rate_limit_pauses"),
            last_paused_at=f.number(d, "last_paused_at"),
            raw=d,
        )


@dataclass(frozen=True)
class AttemptCounts:
    succeeded: int  # answered 2xx
    failed: int  # any other answer, a timeout, no connection
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def read(cls, d: Raw, key: str) -> AttemptCounts | None:
        found = f.opt_mapping(d, key)
        if found is None:
            return None
        succeeded, failed = f.integer(found, "succeeded"), f.integer(found, "failed")
        return cls(succeeded=succeeded or 0, failed=failed or 0, raw=found)


@dataclass(frozen=True)
class EndpointHealth:
    consecutive_failures: int
    failing_since: float | None
    circuit: str  # "closed", "open" or "half_open"
    circuit_open_until: float | None
    attempts_1h: AttemptCounts | None = None  # the last 60 minutes, this one included
    success_rate_1h: float | None = None  # 0..1; None without attempts
    throttle_per_s: int | None = None  # deliveries a second at most; None: no limit
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> EndpointHealth:
        return cls(
            consecutive_failures=f.integer(d, "consecutive_failures") or 0,
            failing_since=f.number(d, "failing_since"),
            circuit=f.text(d, "circuit", "closed"),
            circuit_open_until=f.number(d, "circuit_open_until"),
            attempts_1h=AttemptCounts.read(d, "attempts_1h"),
            success_rate_1h=f.number(d, "success_rate_1h"),
            throttle_per_s=f.integer(d, "throttle_per_s"),
            raw=d,
        )


@dataclass(frozen=True)
class ActivityMinute:
    """An endpoint's attempts in one clock minute (``endpoints.activity``)."""

    minute_at: int  # Unix time the minute starts
    succeeded: int
    failed: int
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> ActivityMinute:
        return cls(
            minute_at=f.integer(d, "minute_at") or 0,
            succeeded=f.integer(d, "succeeded") or 0,
            failed=f.integer(d, "failed") or 0,
            raw=d,
        )


@dataclass(frozen=True)
class Endpoint:
    """Where webhooks go. ``secret`` is set only by the answers that show it (create);
    ``health`` only by ``endpoints.get``."""

    id: str
    url: str
    events: tuple[str, ...]
    description: str
    disabled: bool
    disabled_reason: str | None
    rate_limit: int | None
    progress_step: int | None
    expiring_lead_time: int | None
    result_links_ttl: int | None
    include_results_summary: bool | None
    format: str | None  # "standard" (the event JSON) or "slack" (a Slack message)
    created_at: int | None
    health: EndpointHealth | None = None
    secret: str | None = field(default=None, repr=False)
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> Endpoint:
        health = f.opt_mapping(d, "health")
        return cls(
            id=f.text(d, "id"),
            url=f.text(d, "url"),
            events=f.texts(d, "events"),
            description=f.text(d, "description"),
            disabled=f.flag(d, "disabled"),
            disabled_reason=f.opt_text(d, "disabled_reason"),
            rate_limit=f.integer(d, "rate_limit"),
            progress_step=f.integer(d, "progress_step"),
            expiring_lead_time=f.integer(d, "expiring_lead_time"),
            result_links_ttl=f.integer(d, "result_links_ttl"),
            include_results_summary=f.opt_flag(d, "include_results_summary"),
            format=f.opt_text(d, "format"),
            created_at=f.integer(d, "created_at"),
            health=EndpointHealth.from_dict(health) if health is not None else None,
            secret=f.opt_text(d, "secret"),
            raw=d,
        )


@dataclass(frozen=True)
class SecretRotation:
    """``endpoints.rotate_secret``: the new secret; the old one signs too until
    ``previous_secret_expires_at``."""

    id: str
    secret: str = field(repr=False)
    previous_secret_expires_at: int | None
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> SecretRotation:
        return cls(
            id=f.text(d, "id"),
            secret=f.text(d, "secret"),
            previous_secret_expires_at=f.integer(d, "previous_secret_expires_at"),
            raw=d,
        )


@dataclass(frozen=True)
class Deleted:
    """The answer to a delete (``id`` is the batch id for ``batches.unwatch``)."""

    id: str
    object: str
    deleted: bool
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> Deleted:
        return cls(
            id=f.text(d, "id") or f.text(d, "batch_id"),
            object=f.text(d, "object"),
            deleted=f.flag(d, "deleted"),
            raw=d,
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list. ``next_starting_after`` is what to pass as ``starting_after``
    for the next page (None: this was the last)."""

    data: tuple[T, ...]
    has_more: bool
    next_starting_after: str | None
    raw: Raw = field(default_factory=dict, repr=False, compare=False)
