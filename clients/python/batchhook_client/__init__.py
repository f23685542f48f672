"""batchhook client: register LLM batches with batchhook and verify their webhooks.

    from batchhook_client import Client

    with Client("https://batchhook.example.com", "bh_...") as client:
        conn = client.connections.create(provider="openai", api_key="sk-...")
        client.watch_batch(batch_id="batch_abc123", connection_id=conn.id)

``AsyncClient`` has the same surface for asyncio. ``batchhook_client.webhooks`` verifies a
webhook and types it; its ``fastapi``, ``flask`` and ``django`` modules plug that into
each framework. Errors: ``batchhook_client.errors`` (drawn there as a tree).
"""

from batchhook_client._calls import EndpointChanges
from batchhook_client._version import __version__
from batchhook_client.async_client import AsyncClient
from batchhook_client.client import Client
from batchhook_client.errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BatchhookError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    WebhookVerificationError,
)
from batchhook_client.models import (
    ActivityMinute,
    Attempt,
    AttemptCounts,
    BatchWatch,
    Connection,
    Deleted,
    Delivery,
    Endpoint,
    EndpointHealth,
    Event,
    EventType,
    Page,
    Progress,
    Recovery,
    RequestCounts,
    SecretRotation,
    Stall,
    StatusChange,
)

__all__ = [
    "APIConnectionError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "ActivityMinute",
    "AsyncClient",
    "Attempt",
    "AttemptCounts",
    "AuthenticationError",
    "BadRequestError",
    "BatchWatch",
    "BatchhookError",
    "Client",
    "ConflictError",
    "Connection",
    "Deleted",
    "Delivery",
    "Endpoint",
    "EndpointChanges",
    "EndpointHealth",
    "Event",
    "EventType",
    "InternalServerError",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "Progress",
    "RateLimitError",
    "Recovery",
    "RequestCounts",
    "SecretRotation",
    "Stall",
    "StatusChange",
    "UnprocessableEntityError",
    "WebhookVerificationError",
    "__version__",
]
