"""What every provider adapter provides, and the parts of answer handling they share."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from worker.backoff import parse_retry_after_s
from worker.errors import ProviderRejected, ProviderUnavailable
from worker.models import UNKNOWN_STATUS, BatchStatus, Connection, Snapshot

RETRYABLE_STATUS_CODES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True)
class RetrieveRequest:
    url: str
    headers: dict[str, str]


class Provider(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def default_base_url(self) -> str: ...

    def retrieve_request(self, conn: Connection, batch_id: str) -> RetrieveRequest: ...

    def snapshot(self, batch_id: str, body: dict[str, Any]) -> Snapshot: ...


def error_message(body: bytes) -> str:
    """The human message in any of the error shapes providers answer with.

    ``{"error": {"message": ...}}`` (OpenAI, Anthropic), ``{"error": "text"}`` (Keywords AI,
    Respan), ``{"status": "failure", "message": ...}`` (Portkey's gateway).
    """
    try:
        parsed = json.loads(body)
    except ValueError:
        return body[:200].decode(errors="replace").strip() or "empty body"
    if not isinstance(parsed, dict):
        return str(parsed)[:200]
    error = parsed.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or error)[:500]
    if isinstance(error, str):
        return error[:500]
    return str(parsed.get("message") or parsed.get("detail") or parsed)[:500]


def parse_answer(
    provider: Provider,
    batch_id: str,
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
) -> Snapshot:
    if status_code == 200:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ProviderUnavailable(
                f"{provider.name} answered 200 without a JSON object",
                batch_id=batch_id,
                status_code=status_code,
            )
        return provider.snapshot(batch_id, parsed)
    message = f"{provider.name} answered {status_code}: {error_message(body)}"
    if status_code in RETRYABLE_STATUS_CODES or status_code >= 500:
        raise ProviderUnavailable(
            message,
            batch_id=batch_id,
            status_code=status_code,
            retry_after_s=parse_retry_after_s(headers, now=time.time()),
        )
    raise ProviderRejected(message, batch_id=batch_id, status_code=status_code)


# Words outside OpenAI's set, as gateways and other providers spell them (lower-cased,
# with Vertex's ``JOB_STATE_`` prefix removed), mapped to the normalised status.
STATUS_ALIASES: dict[str, BatchStatus] = {
    "complete": BatchStatus.COMPLETED,  # LiteLLM
    "succeeded": BatchStatus.COMPLETED,  # Vertex
    "success": BatchStatus.COMPLETED,  # Mistral
    "partially_completed": BatchStatus.COMPLETED,  # Bedrock via Portkey
    "partially_succeeded": BatchStatus.COMPLETED,  # Vertex via Portkey
    "submitted": BatchStatus.VALIDATING,  # Bedrock
    "scheduled": BatchStatus.VALIDATING,  # Bedrock
    "queued": BatchStatus.VALIDATING,  # Mistral, Vertex
    "pending": BatchStatus.VALIDATING,  # Vertex
    "running": BatchStatus.IN_PROGRESS,  # Mistral, Vertex
    "inprogress": BatchStatus.IN_PROGRESS,  # Bedrock
    "stopping": BatchStatus.CANCELLING,  # Bedrock
    "canceling": BatchStatus.CANCELLING,
    "cancellation_requested": BatchStatus.CANCELLING,  # Mistral
    "stopped": BatchStatus.CANCELLED,  # Bedrock
    "canceled": BatchStatus.CANCELLED,
    "timeout_exceeded": BatchStatus.EXPIRED,  # Mistral
    "error": BatchStatus.FAILED,
}


def normalize_status(word: str) -> str:
    """The normalised status of a provider's word, or ``"unknown"``; never raises."""
    key = word.strip().lower().removeprefix("job_state_")
    if key in BatchStatus.__members__.values():
        return key
    alias = STATUS_ALIASES.get(key)
    return alias.value if alias else UNKNOWN_STATUS


def unix_seconds(value: Any) -> float | None:
    """A provider timestamp as Unix seconds: seconds, milliseconds or an RFC 3339 string."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) / 1000.0 if value > MILLISECONDS_AFTER else float(value)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None


MILLISECONDS_AFTER = 100_000_000_000  # a seconds value this large is the year 5138


def int_counts(raw: Any) -> dict[str, int] | None:
    if not isinstance(raw, dict):
        return None
    return {str(k): int(v) for k, v in raw.items() if isinstance(v, int | float)}
