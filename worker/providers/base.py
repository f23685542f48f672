"""What every provider adapter provides, and the parts of answer handling they share."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from worker.backoff import parse_retry_after_s
from worker.errors import ProviderRejected, ProviderUnavailable
from worker.models import Connection, Snapshot

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


def int_counts(raw: Any) -> dict[str, int] | None:
    if not isinstance(raw, dict):
        return None
    return {str(k): int(v) for k, v in raw.items() if isinstance(v, int | float)}
