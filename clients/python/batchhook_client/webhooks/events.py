"""One class per event type batchhook sends, each with its typed ``data``
(``webhooks.data``); ``parse_event`` picks the class by ``type``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from batchhook_client import _fields as f
from batchhook_client.webhooks.data import (
    BatchEventData,
    EndpointDisabledData,
    EventData,
    ExpiringData,
    ProgressData,
    ResumedData,
    StalledData,
    WatchFailedData,
    WebhookTestData,
)

Raw = Mapping[str, Any]

D = TypeVar("D", bound=EventData)


@dataclass(frozen=True)
class Event(Generic[D]):
    """A webhook event: OpenAI's event shape. ``id`` is the ``webhook-id`` (the same on
    every retry: deduplicate on it); ``created_at`` Unix seconds."""

    event_type: ClassVar[str] = ""
    read_data = staticmethod(EventData.from_dict)

    id: str
    type: str
    created_at: int
    data: D
    raw: Raw = field(default_factory=dict, repr=False, compare=False)


class UnknownEvent(Event[EventData]):
    """A type this version of the client does not know (a newer server's)."""


class BatchStatusEvent(Event[BatchEventData]):
    """A batch reached a status; ``data.status`` is the provider's word."""

    read_data = staticmethod(BatchEventData.from_dict)


class BatchTerminalEvent(BatchStatusEvent):
    """The batch ended: ``data`` has its file ids and signed links to the files."""


class BatchCompleted(BatchTerminalEvent):
    event_type = "batch.completed"


class BatchFailed(BatchTerminalEvent):
    event_type = "batch.failed"


class BatchExpired(BatchTerminalEvent):
    event_type = "batch.expired"


class BatchCancelled(BatchTerminalEvent):
    event_type = "batch.cancelled"


class BatchValidating(BatchStatusEvent):
    event_type = "batch.validating"


class BatchInProgress(BatchStatusEvent):
    event_type = "batch.in_progress"


class BatchFinalizing(BatchStatusEvent):
    event_type = "batch.finalizing"


class BatchCancelling(BatchStatusEvent):
    event_type = "batch.cancelling"


class BatchWatchFailed(Event[WatchFailedData]):
    event_type = "batch.watch_failed"
    read_data = staticmethod(WatchFailedData.from_dict)


class BatchProgress(Event[ProgressData]):
    event_type = "batch.progress"
    read_data = staticmethod(ProgressData.from_dict)


class BatchExpiring(Event[ExpiringData]):
    event_type = "batch.expiring"
    read_data = staticmethod(ExpiringData.from_dict)


class BatchStalled(Event[StalledData]):
    event_type = "batch.stalled"
    read_data = staticmethod(StalledData.from_dict)


class BatchResumed(Event[ResumedData]):
    event_type = "batch.resumed"
    read_data = staticmethod(ResumedData.from_dict)


class WebhookTest(Event[WebhookTestData]):
    event_type = "webhook.test"
    read_data = staticmethod(WebhookTestData.from_dict)


class EndpointDisabled(Event[EndpointDisabledData]):
    event_type = "endpoint.disabled"
    read_data = staticmethod(EndpointDisabledData.from_dict)


EVENT_CLASSES: dict[str, type[Event[Any]]] = {
    cls.event_type: cls
    for cls in (
        BatchCompleted,
        BatchFailed,
        BatchExpired,
        BatchCancelled,
        BatchValidating,
        BatchInProgress,
        BatchFinalizing,
        BatchCancelling,
        BatchWatchFailed,
        BatchProgress,
        BatchExpiring,
        BatchStalled,
        BatchResumed,
        WebhookTest,
        EndpointDisabled,
    )
}


def parse_event(body: Raw) -> Event[Any]:
    """A (verified) event body as its typed class; ``UnknownEvent`` for a new type."""
    event_type = f.text(body, "type")
    cls = EVENT_CLASSES.get(event_type, UnknownEvent)
    event: Event[Any] = cls(
        id=f.text(body, "id"),
        type=event_type,
        created_at=f.integer(body, "created_at") or 0,
        data=cls.read_data(f.mapping(body, "data")),
        raw=body,
    )
    return event
