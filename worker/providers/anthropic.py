"""Anthropic's Message Batches API: its own object, words and outcome rule.

- ``GET {base}/messages/batches/{id}`` with ``x-api-key`` and ``anthropic-version``
  (``2023-06-01`` unless the connection's headers name another; ``anthropic-beta`` and
  the like pass through from the connection's headers).
- ``processing_status`` is ``in_progress``, ``canceling`` or ``ended``. ``ended`` is
  terminal and says nothing of the outcome: ``ended_status`` reads it from
  ``request_counts`` (``processing``, ``succeeded``, ``errored``, ``canceled``,
  ``expired``). ``provider_status`` stays ``ended``.
- ``results_url`` (a JSONL of every request's result, set once ended) goes out as
  ``output_file_id``; there is no separate error file. Counts are reshaped to OpenAI's.
  The results are fetched from ``results_url`` with the retrieve's headers when it is on
  the connection's own origin; a URL elsewhere (a connection through a proxy, or a
  provider answer naming another host) is not sent the key: the results are then asked
  of ``{base}/messages/batches/{id}/results``, the documented path.
- Times are RFC 3339 strings. Errors: ``{"type": "error", "error": {"type", "message"}}``;
  529 (overloaded) is retryable.
- List: ``?limit=1..1000&after_id=`` answers ``{data, has_more, first_id, last_id}``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from worker.models import BatchStatus, Connection, Snapshot
from worker.providers.base import (
    BatchPage,
    ResultKind,
    RetrieveRequest,
    batch_url,
    clamp_limit,
    cursor_page,
    file_id_of,
    int_counts,
    list_url,
    normalize_status,
    reject_params_encoding,
    required_word,
    unix_seconds,
)
from worker.records import frozen

ANTHROPIC_VERSION = "2023-06-01"
COLLECTION = "/messages/batches"
MAX_LIST_LIMIT = 1000


def ended_status(body: dict[str, Any]) -> BatchStatus:
    """The outcome of an ``ended`` batch, first rule that holds:

    1. a cancel was asked for (``cancel_initiated_at``) or any request was canceled:
       cancelled (as OpenAI reports a batch cancelled part-way);
    2. any request expired (the 24 h window ran out): expired;
    3. no request succeeded and some errored: failed;
    4. otherwise (some succeeded, perhaps beside errored ones): completed, with the
       errored ones in ``request_counts.failed``.
    """
    counts = int_counts(body.get("request_counts")) or {}
    if body.get("cancel_initiated_at") or counts.get("canceled", 0) > 0:
        return BatchStatus.CANCELLED
    if counts.get("expired", 0) > 0:
        return BatchStatus.EXPIRED
    if counts.get("succeeded", 0) == 0 and counts.get("errored", 0) > 0:
        return BatchStatus.FAILED
    return BatchStatus.COMPLETED


def openai_counts(raw: Any) -> dict[str, int] | None:
    """Anthropic's five counters as OpenAI's ``{total, completed, failed}``."""
    counts = int_counts(raw)
    if counts is None:
        return None
    failed = sum(counts.get(k, 0) for k in ("errored", "canceled", "expired"))
    total = failed + counts.get("succeeded", 0) + counts.get("processing", 0)
    return {"total": total, "completed": counts.get("succeeded", 0), "failed": failed}


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs have one scheme, host and port. Pure."""
    a, b = urlsplit(url), urlsplit(other)
    try:
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
    except ValueError:  # a port that is not a number
        return False


@frozen
class AnthropicProvider:
    name: str = "anthropic"
    default_base_url: str = "https://api.anthropic.com/v1"

    def check_options(self, base_url: str | None, params: dict[str, Any] | None) -> None:
        reject_params_encoding(self.name, params)

    def _headers(self, conn: Connection) -> dict[str, str]:
        return {"anthropic-version": ANTHROPIC_VERSION, **conn.headers, "x-api-key": conn.api_key}

    def retrieve_request(self, conn: Connection, batch_id: str) -> RetrieveRequest:
        url = batch_url(conn.base_url, COLLECTION, batch_id)
        return RetrieveRequest(url=url, headers=self._headers(conn))

    def snapshot(self, batch_id: str, body: dict[str, Any]) -> Snapshot:
        word = required_word(self.name, batch_id, body.get("processing_status"))
        status = ended_status(body).value if word == "ended" else normalize_status(word)
        return Snapshot(
            batch_id=str(body.get("id") or batch_id),
            status=status,
            provider_status=word,
            output_file_id=body.get("results_url"),
            error_file_id=None,
            request_counts=openai_counts(body.get("request_counts")),
            raw=body,
            created_at=unix_seconds(body.get("created_at")),
            expires_at=unix_seconds(body.get("expires_at")),
        )

    def list_request(self, conn: Connection, cursor: str | None, limit: int) -> RetrieveRequest:
        query = {"limit": clamp_limit(limit, MAX_LIST_LIMIT), "after_id": cursor}
        return RetrieveRequest(list_url(conn.base_url, COLLECTION, query), self._headers(conn))

    def parse_list(self, body: Any, *, cursor: str | None, limit: int) -> BatchPage:
        return cursor_page(body, self.snapshot, provider=self.name)

    def result_request(
        self, conn: Connection, snapshot: dict[str, Any], kind: ResultKind
    ) -> RetrieveRequest | None:
        results_url = file_id_of(snapshot, "results_url")
        if kind != "output" or results_url is None:
            return None
        if same_origin(results_url, conn.base_url):
            return RetrieveRequest(url=results_url, headers=self._headers(conn))
        batch_id = file_id_of(snapshot, "id")
        if batch_id is None:
            return None
        url = batch_url(conn.base_url, COLLECTION, batch_id) + "/results"
        return RetrieveRequest(url=url, headers=self._headers(conn))
