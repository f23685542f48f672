"""The ``data`` of each family of events, typed.

- ``BatchEventData``: a batch reached a status (``batch.completed`` ... ``batch.cancelling``);
  terminal ones add ``output_url``, ``error_url`` and ``succeeded_share``;
- ``BatchSignalData`` and its subclasses: ``batch.progress``, ``batch.expiring``,
  ``batch.stalled``, ``batch.resumed``;
- ``WatchFailedData``, ``WebhookTestData``, ``EndpointDisabledData``;
- ``EventData``: what every ``data`` has, and all of a type this version does not know.

Every ``data`` keeps the whole JSON object on ``.raw``, so a field added by a newer server
can be read before this package names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batchhook_client import _fields as f
from batchhook_client.models import Progress, RequestCounts

Raw = Mapping[str, Any]


@dataclass(frozen=True)
class EventData:
    """What every event's ``data`` has: ``id`` (the batch id, or the endpoint id)."""

    id: str = ""
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Raw) -> EventData:
        return cls(id=f.text(d, "id"), raw=d)


@dataclass(frozen=True)
class _BatchFields(EventData):
    status: str | None = None  # the provider's own word
    normalized_status: str | None = None  # one of OpenAI's eight
    request_counts: RequestCounts | None = None
    provider: str = ""
    connection_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    duration_s: float | None = None  # from the batch's creation to this event

    @staticmethod
    def batch_fields(d: Raw) -> dict[str, Any]:
        return {
            "id": f.text(d, "id"),
            "status": f.opt_text(d, "status"),
            "normalized_status": f.opt_text(d, "normalized_status"),
            "request_counts": RequestCounts.read(d, "request_counts"),
            "provider": f.text(d, "provider"),
            "connection_id": f.text(d, "connection_id"),
            "metadata": f.mapping(d, "metadata"),
            "duration_s": f.number(d, "duration_s"),
            "raw": d,
        }


@dataclass(frozen=True)
class BatchEventData(_BatchFields):
    """A batch's status change. ``output_url`` / ``error_url`` (terminal events) are
    signed links to the result files that need no token; ``batch`` is the provider's
    object as retrieved; ``results_summary`` is there when the endpoint asked for it."""

    previous_status: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    batch: dict[str, Any] = field(default_factory=dict, repr=False)
    output_url: str | None = None
    error_url: str | None = None
    succeeded_share: float | None = None  # completed / total; None without counts
    results_summary: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, d: Raw) -> BatchEventData:
        return cls(
            **cls.batch_fields(d),
            previous_status=f.opt_text(d, "previous_status"),
            output_file_id=f.opt_text(d, "output_file_id"),
            error_file_id=f.opt_text(d, "error_file_id"),
            batch=f.mapping(d, "batch"),
            output_url=f.opt_text(d, "output_url"),
            error_url=f.opt_text(d, "error_url"),
            succeeded_share=f.number(d, "succeeded_share"),
            results_summary=f.opt_mapping(d, "results_summary"),
        )


@dataclass(frozen=True)
class BatchSignalData(_BatchFields):
    """Where a running batch stands and its pace (the signal events)."""

    progress: Progress | None = None
    request_rate_per_s: float | None = None
    estimated_completion_at: float | None = None
    expires_at: float | None = None

    @classmethod
    def signal_fields(cls, d: Raw) -> dict[str, Any]:
        return {
            **cls.batch_fields(d),
            "progress": Progress.read(d, "progress"),
            "request_rate_per_s": f.number(d, "request_rate_per_s"),
            "estimated_completion_at": f.number(d, "estimated_completion_at"),
            "expires_at": f.number(d, "expires_at"),
        }

    @classmethod
    def from_dict(cls, d: Raw) -> BatchSignalData:
        return cls(**cls.signal_fields(d))


@dataclass(frozen=True)
class ProgressData(BatchSignalData):
    progress_step: int | None = None  # the endpoint's step, in percent

    @classmethod
    def from_dict(cls, d: Raw) -> ProgressData:
        return cls(**cls.signal_fields(d), progress_step=f.integer(d, "progress_step"))


@dataclass(frozen=True)
class ExpiringData(BatchSignalData):
    lead_time_s: int | None = None
    projected_shortfall_s: float | None = None  # how far the estimate lies past the deadline

    @classmethod
    def from_dict(cls, d: Raw) -> ExpiringData:
        return cls(
            **cls.signal_fields(d),
            lead_time_s=f.integer(d, "lead_time_s"),
            projected_shortfall_s=f.number(d, "projected_shortfall_s"),
        )


@dataclass(frozen=True)
class StalledData(BatchSignalData):
    stalled_for_s: float | None = None

    @classmethod
    def from_dict(cls, d: Raw) -> StalledData:
        return cls(**cls.signal_fields(d), stalled_for_s=f.number(d, "stalled_for_s"))


@dataclass(frozen=True)
class ResumedData(BatchSignalData):
    stalled_since: float | None = None
    stalled_for_s: float | None = None

    @classmethod
    def from_dict(cls, d: Raw) -> ResumedData:
        return cls(
            **cls.signal_fields(d),
            stalled_since=f.number(d, "stalled_since"),
            stalled_for_s=f.number(d, "stalled_for_s"),
        )


@dataclass(frozen=True)
class WatchError:
    """Why a batch cannot be polled; ``status_code`` is the provider's answer, if any."""

    message: str = ""
    status_code: int | None = None

    @classmethod
    def from_dict(cls, d: Raw) -> WatchError:
        return cls(message=f.text(d, "message"), status_code=f.integer(d, "status_code"))


@dataclass(frozen=True)
class WatchFailedData(_BatchFields):
    """The batch cannot be polled (unknown id, revoked key): ``error`` says why."""

    previous_status: str | None = None
    error: WatchError = field(default_factory=WatchError)

    @classmethod
    def from_dict(cls, d: Raw) -> WatchFailedData:
        return cls(
            **cls.batch_fields(d),
            previous_status=f.opt_text(d, "previous_status"),
            error=WatchError.from_dict(f.mapping(d, "error")),
        )


@dataclass(frozen=True)
class WebhookTestData(EventData):
    status: str | None = None
    endpoint_id: str = ""
    test: bool = True

    @classmethod
    def from_dict(cls, d: Raw) -> WebhookTestData:
        return cls(
            id=f.text(d, "id"),
            status=f.opt_text(d, "status"),
            endpoint_id=f.text(d, "endpoint_id"),
            test=f.flag(d, "test", True),
            raw=d,
        )


@dataclass(frozen=True)
class EndpointDisabledData(EventData):
    endpoint_id: str = ""
    url: str = ""
    reason: str = ""
    disabled_at: int | None = None

    @classmethod
    def from_dict(cls, d: Raw) -> EndpointDisabledData:
        return cls(
            id=f.text(d, "id"),
            endpoint_id=f.text(d, "endpoint_id") or f.text(d, "id"),
            url=f.text(d, "url"),
            reason=f.text(d, "reason"),
            disabled_at=f.integer(d, "disabled_at"),
            raw=d,
        )
