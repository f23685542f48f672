"""A watched batch: its status, counts, progress and history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batchhook_client import _fields as f
from batchhook_client.models.events import Event

Raw = Mapping[str, Any]


@dataclass(frozen=True)
class RequestCounts:
    total: int
    completed: int
    failed: int
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> RequestCounts:
        return cls(
            total=f.integer(d, "total") or 0,
            completed=f.integer(d, "completed") or 0,
            failed=f.integer(d, "failed") or 0,
            raw=d,
        )

    @classmethod
    def read(cls, d: Raw, key: str) -> RequestCounts | None:
        found = f.opt_mapping(d, key)
        return cls.from_dict(found) if found is not None else None


@dataclass(frozen=True)
class Progress:
    completed: int
    failed: int
    total: int
    percent: float  # (completed + failed) / total, in percent
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> Progress:
        return cls(
            completed=f.integer(d, "completed") or 0,
            failed=f.integer(d, "failed") or 0,
            total=f.integer(d, "total") or 0,
            percent=f.number(d, "percent") or 0.0,
            raw=d,
        )

    @classmethod
    def read(cls, d: Raw, key: str) -> Progress | None:
        found = f.opt_mapping(d, key)
        return cls.from_dict(found) if found is not None else None


@dataclass(frozen=True)
class Stall:
    """The batch has not moved since ``since``."""

    since: float
    for_s: float
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> Stall:
        return cls(since=f.number(d, "since") or 0.0, for_s=f.number(d, "for_s") or 0.0, raw=d)


@dataclass(frozen=True)
class StatusChange:
    """One entry of a batch's history."""

    status: str | None
    at: float | None
    event_id: str | None
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> StatusChange:
        return cls(
            status=f.opt_text(d, "status"),
            at=f.number(d, "at"),
            event_id=f.opt_text(d, "event_id"),
            raw=d,
        )


@dataclass(frozen=True)
class BatchWatch:
    """A watched batch: its last-seen status (the provider's word, and one of OpenAI's
    eight as ``normalized_status``), files, counts and schedule. ``history`` and
    ``events`` come with ``get`` and ``watch``; ``created`` with ``watch`` only (True:
    this call started watching; False: it was already watched)."""

    batch_id: str
    connection_id: str
    status: str | None
    normalized_status: str | None
    watching: bool
    endpoint_ids: tuple[str, ...] | None  # None: every endpoint of the tenant
    metadata: dict[str, Any]
    poll_interval: float | None
    created_at: int | None
    last_polled_at: float | None
    next_poll_at: float | None
    consecutive_errors: int
    last_error: str | None
    output_file_id: str | None
    error_file_id: str | None
    request_counts: RequestCounts | None
    progress: Progress | None
    request_rate_per_s: float | None
    estimated_completion_at: float | None
    expires_at: float | None
    stall: Stall | None
    history: tuple[StatusChange, ...] | None = None
    events: tuple[Event, ...] | None = None
    created: bool | None = None
    provider: str | None = None  # its connection's (None once the connection is gone)
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw, *, created: bool | None = None) -> BatchWatch:
        stall = f.opt_mapping(d, "stall")
        history = d.get("history")
        events = d.get("events")
        return cls(
            batch_id=f.text(d, "batch_id"),
            connection_id=f.text(d, "connection_id"),
            status=f.opt_text(d, "status"),
            normalized_status=f.opt_text(d, "normalized_status"),
            watching=f.flag(d, "watching"),
            endpoint_ids=f.opt_texts(d, "endpoint_ids"),
            metadata=f.mapping(d, "metadata"),
            poll_interval=f.number(d, "poll_interval"),
            created_at=f.integer(d, "created_at"),
            last_polled_at=f.number(d, "last_polled_at"),
            next_poll_at=f.number(d, "next_poll_at"),
            consecutive_errors=f.integer(d, "consecutive_errors") or 0,
            last_error=f.opt_text(d, "last_error"),
            output_file_id=f.opt_text(d, "output_file_id"),
            error_file_id=f.opt_text(d, "error_file_id"),
            request_counts=RequestCounts.read(d, "request_counts"),
            progress=Progress.read(d, "progress"),
            request_rate_per_s=f.number(d, "request_rate_per_s"),
            estimated_completion_at=f.number(d, "estimated_completion_at"),
            expires_at=f.number(d, "expires_at"),
            stall=Stall.from_dict(stall) if stall is not None else None,
            history=tuple(StatusChange.from_dict(h) for h in f.objects(d, "history"))
            if isinstance(history, list)
            else None,
            events=tuple(Event.from_dict(e) for e in f.objects(d, "events"))
            if isinstance(events, list)
            else None,
            created=created,
            provider=f.opt_text(d, "provider"),
            raw=d,
        )
