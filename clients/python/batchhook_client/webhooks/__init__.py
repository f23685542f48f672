"""Verify a batchhook webhook and read it as a typed event.

    from batchhook_client import webhooks

    event = webhooks.verify(body, headers, "whsec_...")  # raises WebhookVerificationError
    if isinstance(event, webhooks.BatchCompleted):
        print(event.data.output_file_id)

Signatures follow Standard Webhooks and are checked with the ``standardwebhooks``
library. Helpers for frameworks, each importing its framework only when imported itself:
``webhooks.fastapi.webhook_event``, ``webhooks.flask.verified_webhook``,
``webhooks.django.verified_webhook``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import standardwebhooks
from standardwebhooks.webhooks import EmptyWebhookSecretError

from batchhook_client.errors import WebhookVerificationError
from batchhook_client.webhooks.data import (
    BatchEventData,
    BatchSignalData,
    EndpointDisabledData,
    EventData,
    ExpiringData,
    ProgressData,
    ResumedData,
    StalledData,
    WatchError,
    WatchFailedData,
    WebhookTestData,
)
from batchhook_client.webhooks.events import (
    EVENT_CLASSES,
    BatchCancelled,
    BatchCancelling,
    BatchCompleted,
    BatchExpired,
    BatchExpiring,
    BatchFailed,
    BatchFinalizing,
    BatchInProgress,
    BatchProgress,
    BatchResumed,
    BatchStalled,
    BatchStatusEvent,
    BatchTerminalEvent,
    BatchValidating,
    BatchWatchFailed,
    EndpointDisabled,
    Event,
    UnknownEvent,
    WebhookTest,
    parse_event,
)

DEFAULT_TOLERANCE_S = 300

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "EVENT_CLASSES",
    "BatchCancelled",
    "BatchCancelling",
    "BatchCompleted",
    "BatchEventData",
    "BatchExpired",
    "BatchExpiring",
    "BatchFailed",
    "BatchFinalizing",
    "BatchInProgress",
    "BatchProgress",
    "BatchResumed",
    "BatchSignalData",
    "BatchStalled",
    "BatchStatusEvent",
    "BatchTerminalEvent",
    "BatchValidating",
    "BatchWatchFailed",
    "EndpointDisabled",
    "EndpointDisabledData",
    "Event",
    "EventData",
    "ExpiringData",
    "ProgressData",
    "ResumedData",
    "StalledData",
    "UnknownEvent",
    "WatchError",
    "WatchFailedData",
    "WebhookTest",
    "WebhookTestData",
    "WebhookVerificationError",
    "parse_event",
    "verify",
]


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: float | None = DEFAULT_TOLERANCE_S,
) -> Event[Any]:
    """The event, once its signature is one made with ``secret`` over this raw body and
    its ``webhook-timestamp`` is within ``tolerance`` seconds of now (None: any age, for
    replaying a stored webhook). Raises ``WebhookVerificationError`` otherwise."""
    text = _text(body)
    sent = {name.lower(): value for name, value in headers.items()}
    msg_id = sent.get("webhook-id")
    timestamp = sent.get("webhook-timestamp")
    signatures = sent.get("webhook-signature")
    if not (msg_id and timestamp and signatures):
        raise WebhookVerificationError(
            "missing webhook-id, webhook-timestamp or webhook-signature header"
        )
    signed_at = _timestamp(timestamp, tolerance)
    expected = _expected_signature(secret, msg_id, signed_at, text)
    if not any(_matches(candidate, expected) for candidate in signatures.split()):
        raise WebhookVerificationError("no signature matches the secret")
    return parse_event(_event_object(text))


def _text(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode()
    except UnicodeDecodeError as exc:
        raise WebhookVerificationError("the body is not UTF-8") from exc


def _timestamp(value: str, tolerance: float | None) -> datetime:
    if not value.isdigit() or len(value) > 15:
        raise WebhookVerificationError("webhook-timestamp is not Unix seconds")
    seconds = int(value)
    if tolerance is not None and abs(time.time() - seconds) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is more than {tolerance:g} s from now (replayed or delayed)"
        )
    return datetime.fromtimestamp(seconds, tz=UTC)


def _expected_signature(secret: str, msg_id: str, signed_at: datetime, text: str) -> bytes:
    """The library's own signature. Its ``verify`` has a fixed 5-minute tolerance, so
    the timestamp is checked here and the signature made with its ``sign``."""
    try:
        signature = standardwebhooks.Webhook(secret).sign(msg_id, signed_at, text)
    except (binascii.Error, ValueError, EmptyWebhookSecretError) as exc:
        raise WebhookVerificationError("the secret is not a whsec_ webhook secret") from exc
    return base64.b64decode(signature.partition(",")[2])


def _matches(candidate: str, expected: bytes) -> bool:
    version, _, value = candidate.partition(",")
    if version != "v1":
        return False
    try:
        given = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, expected)


def _event_object(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise WebhookVerificationError("the signed body is not JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise WebhookVerificationError("the signed body is not an event")
    return body
