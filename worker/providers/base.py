"""What every provider adapter provides, and the parts of answer handling they share."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlencode

from worker import jsoncodec
from worker.backoff import parse_retry_after_s
from worker.errors import ProviderRejected, ProviderUnavailable
from worker.models import Connection, Snapshot
from worker.providers.words import int_counts, normalize_status, unix_seconds
from worker.records import frozen

__all__ = [
    "LIST_CALL",
    "PARAMS_ENCODING_KEY",
    "RESULT_KINDS",
    "RETRYABLE_STATUS_CODES",
    "BatchPage",
    "Provider",
    "ResultKind",
    "RetrieveRequest",
    "batch_url",
    "clamp_limit",
    "cursor_page",
    "decode_answer",
    "error_message",
    "file_content_url",
    "file_id_of",
    "int_counts",
    "list_url",
    "normalize_status",
    "parse_answer",
    "reject_params_encoding",
    "required_word",
    "unix_seconds",
    "with_query",
]

RETRYABLE_STATUS_CODES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})

# The key of a connection's ``params`` that says how the tracking-params header is encoded
# ("json" or "base64"); kept inside ``params`` so the stored connection needs no new field,
# and never sent to the provider itself.
PARAMS_ENCODING_KEY = "params_encoding"

LIST_CALL = ""  # the batch_id that errors of a list call carry: they concern no one batch

# A batch's two result files: what it answered (``output``) and its failed requests.
ResultKind = Literal["output", "errors"]
RESULT_KINDS: tuple[ResultKind, ...] = ("output", "errors")


@frozen
class RetrieveRequest:
    """One GET to a provider: a retrieve call or one page of a list call."""

    url: str
    headers: dict[str, str]


@frozen
class BatchPage:
    """One page of a provider's batch list; ``next_cursor`` is None on the last page."""

    snapshots: list[Snapshot]
    next_cursor: str | None


class Provider(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def default_base_url(self) -> str: ...

    def check_options(self, base_url: str | None, params: dict[str, Any] | None) -> None:
        """Raise ``ValueError`` for a connection this provider cannot be called with."""

    def retrieve_request(self, conn: Connection, batch_id: str) -> RetrieveRequest: ...

    def snapshot(self, batch_id: str, body: dict[str, Any]) -> Snapshot: ...

    def list_request(self, conn: Connection, cursor: str | None, limit: int) -> RetrieveRequest:
        """The list call for the page after ``cursor`` (None: the newest page)."""

    def parse_list(self, body: Any, *, cursor: str | None, limit: int) -> BatchPage:
        """One list answer; ``cursor`` and ``limit`` are those the request was made with."""

    def result_request(
        self, conn: Connection, snapshot: dict[str, Any], kind: ResultKind
    ) -> RetrieveRequest | None:
        """The GET of a result file of the batch whose raw object (as retrieved) is
        ``snapshot``, with the same key as its retrieve; None when it has no such file."""


# --- building requests -------------------------------------------------------------------


def batch_url(
    base_url: str, collection: str, batch_id: str, *, trailing_slash: bool = False
) -> str:
    """``{base}{collection}/{id}`` with the id escaped so it stays one path segment."""
    url = f"{base_url.rstrip('/')}{collection}/{quote(batch_id, safe='')}"
    return url + "/" if trailing_slash else url


def file_content_url(
    base_url: str, collection: str, file_id: str, *, trailing_slash: bool = False
) -> str:
    """``{base}{collection}/{id}/content``: the bytes of a file, as OpenAI's files API
    serves them (and the services copying it)."""
    url = batch_url(base_url, collection, file_id) + "/content"
    return url + "/" if trailing_slash else url


def file_id_of(snapshot: Mapping[str, Any], field: str) -> str | None:
    """The file id a batch object names in ``field``; None for none (or not a string)."""
    value = snapshot.get(field)
    return value if isinstance(value, str) and value else None


def with_query(url: str, query: Mapping[str, str | int | None]) -> str:
    """``url?query``, leaving out the parameters that are None."""
    kept = {name: value for name, value in query.items() if value is not None}
    return f"{url}?{urlencode(kept)}" if kept else url


def list_url(base_url: str, collection: str, query: Mapping[str, str | int | None]) -> str:
    """``{base}{collection}?query``: a list call."""
    return with_query(base_url.rstrip("/") + collection, query)


def reject_params_encoding(provider: str, params: dict[str, Any] | None) -> None:
    """Providers without a tracking-params header have nothing to encode."""
    if params and PARAMS_ENCODING_KEY in params:
        raise ValueError(f"{PARAMS_ENCODING_KEY} does not apply to {provider}")


# --- reading answers ---------------------------------------------------------------------


def error_message(body: bytes) -> str:
    """The human message in any of the error shapes providers answer with.

    ``{"error": {"message": ...}}`` (OpenAI, Azure, Together, Groq, LiteLLM),
    ``{"type": "error", "error": {"type": ..., "message": ...}}`` (Anthropic),
    ``{"error": "text"}`` (Keywords AI, Respan), ``{"status": "failure", "message": ...}``
    (Portkey's gateway), ``{"object": "error", "message": ...}`` (Mistral) and
    ``{"detail": ...}`` (FastAPI-style validation errors, as LiteLLM and Mistral send).
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
    if isinstance(error, str) and error:
        return error[:500]
    detail = parsed.get("detail")
    if isinstance(detail, list):
        detail = "; ".join(str(d.get("msg", d) if isinstance(d, dict) else d) for d in detail)
    return str(parsed.get("message") or detail or parsed)[:500]


def decode_answer(
    provider: str, batch_id: str, status_code: int, headers: Mapping[str, str], body: bytes
) -> Any:
    """The JSON of a 200 answer; any other answer raises the matching ``ProviderError``."""
    if status_code == 200:
        try:
            return jsoncodec.loads(body)
        except ValueError:
            raise ProviderUnavailable(
                f"{provider} answered 200 without JSON", batch_id=batch_id, status_code=200
            ) from None
    message = f"{provider} answered {status_code}: {error_message(body)}"
    if status_code in RETRYABLE_STATUS_CODES or status_code >= 500:
        raise ProviderUnavailable(
            message,
            batch_id=batch_id,
            status_code=status_code,
            retry_after_s=parse_retry_after_s(headers, now=time.time()),
        )
    raise ProviderRejected(message, batch_id=batch_id, status_code=status_code)


def parse_answer(
    provider: Provider,
    batch_id: str,
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
) -> Snapshot:
    parsed = decode_answer(provider.name, batch_id, status_code, headers, body)
    if not isinstance(parsed, dict):
        raise ProviderUnavailable(
            f"{provider.name} answered 200 without a JSON object",
            batch_id=batch_id,
            status_code=status_code,
        )
    return provider.snapshot(batch_id, parsed)


def required_word(provider: str, batch_id: str, value: Any) -> str:
    """The status word of a batch object; an object without one is not a batch."""
    if not isinstance(value, str) or not value:
        raise ProviderUnavailable(
            f"{provider} answered a batch without a status", batch_id=batch_id
        )
    return value


def cursor_page(
    body: Any, to_snapshot: Callable[[str, dict[str, Any]], Snapshot], *, provider: str
) -> BatchPage:
    """A ``{data, has_more, last_id}`` list answer (OpenAI's and Anthropic's shape).

    A bare JSON array (Together) or ``results`` instead of ``data`` is one last page;
    ``last_id`` missing falls back to the id of the page's last batch.
    """
    items = body if isinstance(body, list) else _items(body)
    if items is None:
        raise ProviderUnavailable(f"{provider} answered a list without data", batch_id=LIST_CALL)
    batches = [item for item in items if isinstance(item, dict) and item.get("id")]
    snapshots = [to_snapshot(str(item["id"]), item) for item in batches]
    more = isinstance(body, dict) and body.get("has_more") is True and bool(batches)
    if not more:
        return BatchPage(snapshots, None)
    last_id = body.get("last_id") or batches[-1]["id"]
    return BatchPage(snapshots, str(last_id))


def _items(body: Any) -> list[Any] | None:
    if not isinstance(body, dict):
        return None
    for key in ("data", "results"):
        if isinstance(body.get(key), list):
            items: list[Any] = body[key]
            return items
    return None


def clamp_limit(limit: int, maximum: int) -> int:
    return max(1, min(limit, maximum))
