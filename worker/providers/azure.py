"""Azure OpenAI: OpenAI's batch object at the resource's own endpoint.

- ``base_url`` is the resource endpoint (``https://NAME.openai.azure.com``); there is no
  public default, so a connection must name it.
- Two URL forms. The dated API: ``{endpoint}/openai/batches/{id}?api-version=2024-10-21``,
  the version overridable with the connection's ``params`` ``{"api_version": "..."}``
  (the only key Azure takes there; nothing of ``params`` is sent as a header). The v1
  API, chosen by a ``base_url`` ending in ``/openai/v1``: ``{base}/batches/{id}`` with no
  ``api-version`` unless ``params`` names one (e.g. ``"preview"``).
- The key travels in the ``api-key`` header.
- The object is OpenAI's, except that ``endpoint`` lacks ``/v1`` (kept as is in ``raw``)
  and ``expires_at`` may be null and ``expired`` never come.
- Result files: ``{endpoint}/openai/files/{id}/content?api-version=...`` (v1:
  ``{base}/files/{id}/content``), the URL form and key as for the batch.
"""

from __future__ import annotations

import re
from typing import Any

from worker.models import Connection, Snapshot
from worker.providers.base import (
    BatchPage,
    ResultKind,
    RetrieveRequest,
    batch_url,
    clamp_limit,
    cursor_page,
    file_content_url,
    file_id_of,
    list_url,
    reject_params_encoding,
    with_query,
)
from worker.providers.openai_family import FILE_FIELDS, openai_snapshot
from worker.records import frozen

DEFAULT_API_VERSION = "2024-10-21"
API_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,39}$")
V1_SUFFIX = "/openai/v1"
MAX_LIST_LIMIT = 100


@frozen
class AzureProvider:
    name: str = "azure"
    default_base_url: str = ""  # none: the resource endpoint is the tenant's own

    def check_options(self, base_url: str | None, params: dict[str, Any] | None) -> None:
        if not base_url:
            raise ValueError(
                "azure needs base_url: the resource endpoint, e.g. https://NAME.openai.azure.com"
            )
        reject_params_encoding(self.name, params)
        extra = sorted(set(params or {}) - {"api_version"})
        if extra:
            raise ValueError(f"azure params take only 'api_version', not {', '.join(extra)}")
        version = (params or {}).get("api_version")
        if version is not None and not (isinstance(version, str) and API_VERSION.match(version)):
            raise ValueError("params.api_version must look like 2024-10-21")

    def _collection(
        self, conn: Connection, name: str = "batches"
    ) -> tuple[str, str, dict[str, str]]:
        """(base URL, path of the ``name`` collection, query) of this connection's URL form."""
        base = conn.base_url.rstrip("/")
        version = (conn.params or {}).get("api_version")
        if base.endswith(V1_SUFFIX):
            return base, f"/{name}", {"api-version": str(version)} if version else {}
        base = base.removesuffix("/openai")
        return base, f"/openai/{name}", {"api-version": str(version or DEFAULT_API_VERSION)}

    def _headers(self, conn: Connection) -> dict[str, str]:
        return {**conn.headers, "api-key": conn.api_key}

    def retrieve_request(self, conn: Connection, batch_id: str) -> RetrieveRequest:
        base, collection, query = self._collection(conn)
        url = with_query(batch_url(base, collection, batch_id), query)
        return RetrieveRequest(url=url, headers=self._headers(conn))

    def snapshot(self, batch_id: str, body: dict[str, Any]) -> Snapshot:
        return openai_snapshot(self.name, batch_id, body)

    def list_request(self, conn: Connection, cursor: str | None, limit: int) -> RetrieveRequest:
        base, collection, query = self._collection(conn)
        paging = {"limit": clamp_limit(limit, MAX_LIST_LIMIT), "after": cursor}
        url = list_url(base, collection, {**paging, **query})
        return RetrieveRequest(url=url, headers=self._headers(conn))

    def parse_list(self, body: Any, *, cursor: str | None, limit: int) -> BatchPage:
        return cursor_page(body, self.snapshot, provider=self.name)

    def result_request(
        self, conn: Connection, snapshot: dict[str, Any], kind: ResultKind
    ) -> RetrieveRequest | None:
        file_id = file_id_of(snapshot, FILE_FIELDS[kind])
        if file_id is None:
            return None
        base, collection, query = self._collection(conn, "files")
        url = with_query(file_content_url(base, collection, file_id), query)
        return RetrieveRequest(url=url, headers=self._headers(conn))
