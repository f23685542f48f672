"""OpenAI's Batch API and the gateways that proxy it with the same batch object.

They differ only in the default base URL, the retrieve path (Keywords AI and Respan end
it with a slash) and extra headers: the tracking-params header of Keywords AI and
Respan, and the ``x-portkey-*`` routing headers of Portkey (from the connection's
``headers``, like any connection's extra headers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from worker.errors import ProviderUnavailable
from worker.models import Connection, Snapshot
from worker.providers.base import RetrieveRequest, int_counts, normalize_status, unix_seconds


@dataclass(frozen=True)
class OpenAIFamilyProvider:
    name: str
    default_base_url: str
    path_template: str = "/batches/{id}"
    params_header: str | None = None

    def retrieve_request(self, conn: Connection, batch_id: str) -> RetrieveRequest:
        base = conn.base_url.rstrip("/")
        url = base + self.path_template.format(id=quote(batch_id, safe=""))
        headers = {**conn.headers, "authorization": f"Bearer {conn.api_key}"}
        if self.params_header and conn.params:
            headers[self.params_header] = json.dumps(conn.params, separators=(",", ":"))
        return RetrieveRequest(url=url, headers=headers)

    def snapshot(self, batch_id: str, body: dict[str, Any]) -> Snapshot:
        status = body.get("status")
        if not isinstance(status, str) or not status:
            raise ProviderUnavailable(
                f"{self.name} answered a batch without a status", batch_id=batch_id
            )
        return Snapshot(
            batch_id=str(body.get("id") or batch_id),
            status=normalize_status(status),
            provider_status=status,
            output_file_id=body.get("output_file_id"),
            error_file_id=body.get("error_file_id"),
            request_counts=int_counts(body.get("request_counts")),
            raw=body,
            created_at=unix_seconds(body.get("created_at")),
            expires_at=unix_seconds(body.get("expires_at")),
        )


OPENAI_FAMILY = (
    OpenAIFamilyProvider("openai", "https://api.openai.com/v1"),
    OpenAIFamilyProvider("openai_compatible", "https://api.openai.com/v1"),
    OpenAIFamilyProvider(
        "keywordsai",
        "https://api.keywordsai.co/api/v1",
        path_template="/batches/{id}/",
        params_header="X-Data-Keywordsai-Params",
    ),
    OpenAIFamilyProvider(
        "respan",
        "https://api.respan.ai/api/v1",
        path_template="/batches/{id}/",
        params_header="X-Data-Respan-Params",
    ),
    OpenAIFamilyProvider("portkey", "https://api.portkey.ai/v1"),
)
