"""OpenAI's Batch API and the services that answer with the same batch object.

They differ only in the default base URL, the batch path (Keywords AI and Respan end it
with a slash), the field naming the batch's deadline and extra headers:

- Keywords AI, Respan: the connection's ``params`` travel in a tracking header, as compact
  JSON or (Respan's newer docs) base64 of that JSON, per ``params["params_encoding"]``.
- Portkey: ``x-portkey-*`` routing headers come from the connection's ``headers``. Behind
  Bedrock or Vertex it answers their words (``partially_completed``, ``stopped``,
  ``JOB_STATE_SUCCEEDED``, ...) and millisecond timestamps; ``words`` maps both. Its
  gateway serves a batch's output at ``/batches/{id}/output`` (whatever the provider
  behind it keeps the file in: S3, GCS, OpenAI's files); the error file is a file.
- Together: upper-case words (``COMPLETED``), RFC 3339 times, ``job_deadline`` for the
  expiry, no ``request_counts``; its list call answers a bare JSON array.
- Groq: plain OpenAI under ``/openai/v1``.
- LiteLLM proxy: adds ``complete`` for completed; ``custom-llm-provider`` is an ordinary
  connection header.

Result files: ``GET {base}/files/{id}/content`` (with the batch path's trailing slash
where there is one) of ``output_file_id`` / ``error_file_id``, with the retrieve's headers.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from worker.models import Connection, Snapshot
from worker.providers.base import (
    PARAMS_ENCODING_KEY,
    BatchPage,
    ResultKind,
    RetrieveRequest,
    batch_url,
    clamp_limit,
    cursor_page,
    file_content_url,
    file_id_of,
    int_counts,
    list_url,
    normalize_status,
    reject_params_encoding,
    required_word,
    unix_seconds,
)
from worker.records import frozen

PARAMS_ENCODINGS = ("json", "base64")
MAX_LIST_LIMIT = 100
# Where an OpenAI batch object names its result files (Azure's and Together's too).
FILE_FIELDS: dict[ResultKind, str] = {"output": "output_file_id", "errors": "error_file_id"}


def openai_snapshot(
    provider: str, batch_id: str, body: dict[str, Any], *, expires_field: str = "expires_at"
) -> Snapshot:
    """An OpenAI-shaped batch object as a snapshot (also Azure's)."""
    word = required_word(provider, batch_id, body.get("status"))
    return Snapshot(
        batch_id=str(body.get("id") or batch_id),
        status=normalize_status(word),
        provider_status=word,
        output_file_id=body.get("output_file_id"),
        error_file_id=body.get("error_file_id"),
        request_counts=int_counts(body.get("request_counts")),
        raw=body,
        created_at=unix_seconds(body.get("created_at")),
        expires_at=unix_seconds(body.get(expires_field)),
    )


def tracking_header_value(params: dict[str, Any]) -> str | None:
    """The tracking header's value: compact JSON, or base64 of it; None with nothing to send."""
    payload = {k: v for k, v in params.items() if k != PARAMS_ENCODING_KEY}
    if not payload:
        return None
    text = json.dumps(payload, separators=(",", ":"))
    if params.get(PARAMS_ENCODING_KEY) == "base64":
        return base64.b64encode(text.encode()).decode("ascii")
    return text


@frozen
class OpenAIFamilyProvider:
    name: str
    default_base_url: str
    trailing_slash: bool = False
    params_header: str | None = None
    expires_field: str = "expires_at"
    batch_output: bool = False  # the output at /batches/{id}/output (Portkey's gateway)

    def check_options(self, base_url: str | None, params: dict[str, Any] | None) -> None:
        if self.params_header is None:
            reject_params_encoding(self.name, params)
            return
        encoding = (params or {}).get(PARAMS_ENCODING_KEY, "json")
        if encoding not in PARAMS_ENCODINGS:
            raise ValueError(f"{PARAMS_ENCODING_KEY} must be 'json' or 'base64'")

    def _headers(self, conn: Connection) -> dict[str, str]:
        headers = {**conn.headers, "authorization": f"Bearer {conn.api_key}"}
        if self.params_header and conn.params:
            value = tracking_header_value(conn.params)
            if value is not None:
                headers[self.params_header] = value
        return headers

    def retrieve_request(self, conn: Connection, batch_id: str) -> RetrieveRequest:
        url = batch_url(conn.base_url, "/batches", batch_id, trailing_slash=self.trailing_slash)
        return RetrieveRequest(url=url, headers=self._headers(conn))

    def snapshot(self, batch_id: str, body: dict[str, Any]) -> Snapshot:
        return openai_snapshot(self.name, batch_id, body, expires_field=self.expires_field)

    def list_request(self, conn: Connection, cursor: str | None, limit: int) -> RetrieveRequest:
        collection = "/batches/" if self.trailing_slash else "/batches"
        query = {"limit": clamp_limit(limit, MAX_LIST_LIMIT), "after": cursor}
        return RetrieveRequest(list_url(conn.base_url, collection, query), self._headers(conn))

    def parse_list(self, body: Any, *, cursor: str | None, limit: int) -> BatchPage:
        return cursor_page(body, self.snapshot, provider=self.name)

    def result_request(
        self, conn: Connection, snapshot: dict[str, Any], kind: ResultKind
    ) -> RetrieveRequest | None:
        file_id = file_id_of(snapshot, FILE_FIELDS[kind])
        if file_id is None:
            return None
        batch_id = file_id_of(snapshot, "id")
        if kind == "output" and self.batch_output and batch_id is not None:
            url = batch_url(conn.base_url, "/batches", batch_id) + "/output"
        else:
            url = file_content_url(
                conn.base_url, "/files", file_id, trailing_slash=self.trailing_slash
            )
        return RetrieveRequest(url=url, headers=self._headers(conn))


OPENAI_FAMILY = (
    OpenAIFamilyProvider("openai", "https://api.openai.com/v1"),
    OpenAIFamilyProvider("openai_compatible", "https://api.openai.com/v1"),
    OpenAIFamilyProvider(
        "keywordsai",
        "https://api.keywordsai.co/api/v1",
        trailing_slash=True,
        params_header="X-Data-Keywordsai-Params",
    ),
    OpenAIFamilyProvider(
        "respan",
        "https://api.respan.ai/api/v1",
        trailing_slash=True,
        params_header="X-Data-Respan-Params",
    ),
    OpenAIFamilyProvider("portkey", "https://api.portkey.ai/v1", batch_output=True),
    OpenAIFamilyProvider("together", "https://api.together.xyz/v1", expires_field="job_deadline"),
    OpenAIFamilyProvider("groq", "https://api.groq.com/openai/v1"),
    OpenAIFamilyProvider("litellm", "http://localhost:4000/v1"),
)
