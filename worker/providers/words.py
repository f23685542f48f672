"""Providers' status words and timestamps, in batchhook's one vocabulary and one unit."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from worker.models import UNKNOWN_STATUS, BatchStatus

# Words outside OpenAI's set, as gateways and other providers spell them (lower-cased,
# with Vertex's ``JOB_STATE_`` prefix removed), mapped to the normalised status.
# Together's upper-case words are OpenAI's own once lower-cased.
STATUS_ALIASES: dict[str, BatchStatus] = {
    "complete": BatchStatus.COMPLETED,  # LiteLLM
    "succeeded": BatchStatus.COMPLETED,  # Vertex
    "success": BatchStatus.COMPLETED,  # Mistral
    "partially_completed": BatchStatus.COMPLETED,  # Bedrock via Portkey (snake_case)
    "partiallycompleted": BatchStatus.COMPLETED,  # Bedrock via older Portkey (PartiallyCompleted)
    "partially_succeeded": BatchStatus.COMPLETED,  # Vertex via Portkey
    "submitted": BatchStatus.VALIDATING,  # Bedrock
    "scheduled": BatchStatus.VALIDATING,  # Bedrock
    "queued": BatchStatus.VALIDATING,  # Mistral, Vertex
    "pending": BatchStatus.VALIDATING,  # Vertex
    "running": BatchStatus.IN_PROGRESS,  # Mistral, Vertex
    "inprogress": BatchStatus.IN_PROGRESS,  # Bedrock via older Portkey (InProgress)
    "paused": BatchStatus.IN_PROGRESS,  # Vertex: resumes, not an end
    "updating": BatchStatus.IN_PROGRESS,  # Vertex
    "stopping": BatchStatus.CANCELLING,  # Bedrock
    "canceling": BatchStatus.CANCELLING,  # Anthropic, Together
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


MILLISECONDS_AFTER = 100_000_000_000  # a seconds value this large is the year 5138


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


def int_counts(raw: Any) -> dict[str, int] | None:
    """A counts object with its finite numeric members as ints (None when it is not an
    object); NaN and infinities, which ``json.loads`` accepts, are left out."""
    if not isinstance(raw, dict):
        return None
    return {
        str(k): int(v) for k, v in raw.items() if isinstance(v, int | float) and math.isfinite(v)
    }
