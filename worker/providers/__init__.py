"""Provider adapters: each knows one family's URL shape, headers and answers.

``retrieve`` is the one call the poll path makes; every adapter turns the provider's
answer into one normalised ``Snapshot`` or raises a ``ProviderError``. ``list_batches``
reads one page of an account's batches (for discovering them).

    openai_family  openai, openai_compatible, keywordsai, respan, portkey, together,
                   groq, litellm (OpenAI's batch object)
    azure          Azure OpenAI (resource endpoint, api-key, api-version)
    anthropic      Message Batches (outcome of ``ended`` from the request counts)
    mistral        batch jobs (own words, file and counter names, page numbers)
"""

from __future__ import annotations

import httpx

from worker.errors import InputError, ProviderUnavailable
from worker.models import Connection, Snapshot
from worker.providers.anthropic import AnthropicProvider
from worker.providers.azure import AzureProvider
from worker.providers.base import (
    LIST_CALL,
    BatchPage,
    Provider,
    RetrieveRequest,
    decode_answer,
    parse_answer,
)
from worker.providers.mistral import MistralProvider
from worker.providers.openai_family import OPENAI_FAMILY

REGISTRY: dict[str, Provider] = {
    p.name: p for p in (*OPENAI_FAMILY, AzureProvider(), AnthropicProvider(), MistralProvider())
}

__all__ = [
    "REGISTRY",
    "BatchPage",
    "Provider",
    "RetrieveRequest",
    "get_provider",
    "list_batches",
    "retrieve",
]


def get_provider(name: str) -> Provider:
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(unknown_provider_message(name)) from None


def unknown_provider_message(name: str) -> str:
    return f"unknown provider {name!r}; known: {', '.join(sorted(REGISTRY))}"


async def _get(
    client: httpx.AsyncClient,
    provider: Provider,
    request: RetrieveRequest,
    *,
    batch_id: str,
    timeout_s: float,
) -> httpx.Response:
    try:
        return await client.get(
            request.url, headers=request.headers, timeout=timeout_s, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(
            f"{type(exc).__name__} calling {provider.name}", batch_id=batch_id
        ) from exc


async def retrieve(
    client: httpx.AsyncClient, conn: Connection, batch_id: str, *, timeout_s: float
) -> Snapshot:
    """One *retrieve batch* call, normalised."""
    provider = get_provider(conn.provider)
    request = provider.retrieve_request(conn, batch_id)
    response = await _get(client, provider, request, batch_id=batch_id, timeout_s=timeout_s)
    return parse_answer(
        provider, batch_id, response.status_code, response.headers, response.content
    )


async def list_batches(
    client: httpx.AsyncClient,
    conn: Connection,
    *,
    cursor: str | None = None,
    limit: int = 100,
    timeout_s: float,
) -> BatchPage:
    """One page of the account's batches, newest first; pass ``next_cursor`` on for more.

    Errors are those of ``retrieve``, with an empty ``batch_id``.
    """
    provider = get_provider(conn.provider)
    request = provider.list_request(conn, cursor, limit)
    response = await _get(client, provider, request, batch_id=LIST_CALL, timeout_s=timeout_s)
    body = decode_answer(
        provider.name, LIST_CALL, response.status_code, response.headers, response.content
    )
    return provider.parse_list(body, cursor=cursor, limit=limit)
