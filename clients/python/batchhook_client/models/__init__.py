"""The API's objects as frozen dataclasses.

Each ``from_dict`` reads what it knows and ignores the rest, and keeps the whole answer
on ``.raw``: a field a newer server adds is there before this package knows its name.
Times are Unix seconds (``*_at``), durations seconds (``*_s``).
"""

from batchhook_client.models.accounts import (
    ActivityMinute,
    AttemptCounts,
    Connection,
    Deleted,
    Endpoint,
    EndpointHealth,
    Page,
    SecretRotation,
)
from batchhook_client.models.batches import (
    BatchWatch,
    Progress,
    RequestCounts,
    Stall,
    StatusChange,
)
from batchhook_client.models.events import Attempt, Delivery, Event, EventType, Recovery

__all__ = [
    "ActivityMinute",
    "Attempt",
    "AttemptCounts",
    "BatchWatch",
    "Connection",
    "Deleted",
    "Delivery",
    "Endpoint",
    "EndpointHealth",
    "Event",
    "EventType",
    "Page",
    "Progress",
    "Recovery",
    "RequestCounts",
    "SecretRotation",
    "Stall",
    "StatusChange",
]
