"""Mistral's batch jobs: upper-case words, its own file and counter names, page numbers.

- ``GET {base}/batch/jobs/{id}`` with a Bearer key.
- ``status``: QUEUED, RUNNING, CANCELLATION_REQUESTED, then SUCCESS, FAILED,
  TIMEOUT_EXCEEDED (expired) or CANCELLED; ``words`` maps them.
- ``output_file`` / ``error_file`` are the file ids (their bytes at
  ``{base}/files/{id}/content``); counts come from ``total_requests``,
  ``succeeded_requests`` and ``failed_requests`` (``completed_requests`` counts both
  outcomes, so it is not OpenAI's ``completed``). ``created_at`` is Unix seconds; a job
  has no expiry time.
- Errors: ``{"object": "error", "message": ...}`` or ``{"detail": ...}``.
- List: ``?page=N&page_size=N`` (pages count from 0) answers ``{data, object, total}``;
  the cursor is the next page number as a string.
"""

from __future__ import annotations

from typing import Any

from worker.errors import ProviderUnavailable
from worker.models import Connection, Snapshot
from worker.providers.base import (
    LIST_CALL,
    BatchPage,
    ResultKind,
    RetrieveRequest,
    batch_url,
    clamp_limit,
    file_content_url,
    file_id_of,
    list_url,
    normalize_status,
    reject_params_encoding,
    required_word,
    unix_seconds,
)
from worker.records import frozen

COLLECTION = "/batch/jobs"
MAX_LIST_LIMIT = 100
FILE_FIELDS: dict[ResultKind, str] = {"output": "output_file", "errors": "error_file"}
COUNTERS = {
    "total": "total_requests",
    "completed": "succeeded_requests",
    "failed": "failed_requests",
}


def openai_counts(body: dict[str, Any]) -> dict[str, int] | None:
    """Mistral's ``*_requests`` counters as OpenAI's ``{total, completed, failed}``."""
    counts = {
        ours: int(body[theirs])
        for ours, theirs in COUNTERS.items()
        if isinstance(body.get(theirs), int | float) and not isinstance(body[theirs], bool)
    }
    return counts or None


@frozen
class MistralProvider:
    name: str = "mistral"
    default_base_url: str = "https://api.mistral.ai/v1"

    def check_options(self, base_url: str | None, params: dict[str, Any] | None) -> None:
        reject_params_encoding(self.name, params)

    def _headers(self, conn: Connection) -> dict[str, str]:
        return {**conn.headers, "authorization": f"Bearer {conn.api_key}"}

    def retrieve_request(self, conn: Connection, batch_id: str) -> RetrieveRequest:
        url = batch_url(conn.base_url, COLLECTION, batch_id)
        return RetrieveRequest(url=url, headers=self._headers(conn))

    def snapshot(self, batch_id: str, body: dict[str, Any]) -> Snapshot:
        word = required_word(self.name, batch_id, body.get("status"))
        return Snapshot(
            batch_id=str(body.get("id") or batch_id),
            status=normalize_status(word),
            provider_status=word,
            output_file_id=body.get("output_file"),
            error_file_id=body.get("error_file"),
            request_counts=openai_counts(body),
            raw=body,
            created_at=unix_seconds(body.get("created_at")),
            expires_at=None,
        )

    def list_request(self, conn: Connection, cursor: str | None, limit: int) -> RetrieveRequest:
        query = {"page": int(cursor or 0), "page_size": clamp_limit(limit, MAX_LIST_LIMIT)}
        return RetrieveRequest(list_url(conn.base_url, COLLECTION, query), self._headers(conn))

    def parse_list(self, body: Any, *, cursor: str | None, limit: int) -> BatchPage:
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ProviderUnavailable(
                f"{self.name} answered a list without data", batch_id=LIST_CALL
            )
        jobs = [item for item in items if isinstance(item, dict) and item.get("id")]
        snapshots = [self.snapshot(str(job["id"]), job) for job in jobs]
        page, page_size = int(cursor or 0), clamp_limit(limit, MAX_LIST_LIMIT)
        total = body.get("total")
        more = (page + 1) * page_size < total if isinstance(total, int) else len(items) == page_size
        return BatchPage(snapshots, str(page + 1) if more and items else None)

    def result_request(
        self, conn: Connection, snapshot: dict[str, Any], kind: ResultKind
    ) -> RetrieveRequest | None:
        file_id = file_id_of(snapshot, FILE_FIELDS[kind])
        if file_id is None:
            return None
        url = file_content_url(conn.base_url, "/files", file_id)
        return RetrieveRequest(url=url, headers=self._headers(conn))
