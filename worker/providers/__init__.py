"""Provider adapters: each knows one family's URL shape, headers and answers.

``retrieve`` is the one call the poll path makes; every adapter turns the provider's
answer into one normalised ``Snapshot`` or raises a ``ProviderError``. ``list_batches``
reads one page of an account's batches (for discovering them). Each adapter's
``result_request`` builds the GET of a batch's output or error file, which
``worker.results`` streams.

    openai_family  openai, openai_compatible, keywordsai, respan, portkey, together,
                   groq, litellm (OpenAI's batch object)
    azure          Azure OpenAI (resource endpoint, api-key, api-version)
    anthropic      Message Batches (outcome of ``ended`` from the request counts)
    mistral        batch jobs (own words, file and counter names, page numbers)
"""

from __future__ import annotations

import aiohttp
import httpx

from worker.errors import InputError, ProviderUnavailable
from worker.http1 import Answer, Http1Client, HttpClientError
from worker.models import Connection, Snapshot
from worker.providers.anthropic import AnthropicProvider
from worker.providers.azure import AzureProvider
from worker.providers.base import (
    LIST_CALL,
    RESULT_KINDS,
    BatchPage,
    Provider,
    ResultKind,
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
    "RESULT_KINDS",
    "BatchPage",
    "FileClient",
    "PollClient",
    "Provider",
    "ResultKind",
    "RetrieveRequest",
    "failure_kind",
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


# The worker's provider calls go through ``Http1Client`` (see ``runtime``), tests' may go
# through an httpx client (``httpx.MockTransport``).
PollClient = Http1Client | httpx.AsyncClient
# Result files are streamed through aiohttp (the web process) or httpx (tests).
FileClient = aiohttp.ClientSession | httpx.AsyncClient


async def _fetch(client: PollClient, request: RetrieveRequest, timeout_s: float) -> Answer:
    if isinstance(client, httpx.AsyncClient):
        response = await client.get(
            request.url, headers=request.headers, timeout=timeout_s, follow_redirects=False
        )
        return Answer(response.status_code, response.headers, response.content)
    return await client.get(request.url, request.headers, timeout_s=timeout_s)


async def _get(
    client: PollClient,
    provider: Provider,
    request: RetrieveRequest,
    *,
    batch_id: str,
    timeout_s: float,
) -> Answer:
    try:
        return await _fetch(client, request, timeout_s)
    except (HttpClientError, httpx.HTTPError, TimeoutError, OSError) as exc:
        raise ProviderUnavailable(
            f"{failure_kind(exc)} calling {provider.name}", batch_id=batch_id
        ) from exc


def failure_kind(exc: BaseException) -> str:
    """The failure's kind, named as httpx names it whichever client failed."""
    if isinstance(exc, HttpClientError):
        return exc.kind
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "ConnectError"
    if isinstance(exc, TimeoutError) and not isinstance(exc, httpx.HTTPError):
        return "Timeout"
    return type(exc).__name__


async def retrieve(
    client: PollClient, conn: Connection, batch_id: str, *, timeout_s: float
) -> Snapshot:
    """One *retrieve batch* call, normalised."""
    provider = get_provider(conn.provider)
    request = provider.retrieve_request(conn, batch_id)
    answer = await _get(client, provider, request, batch_id=batch_id, timeout_s=timeout_s)
    return parse_answer(provider, batch_id, answer.status_code, answer.headers, answer.body)


async def list_batches(
    client: PollClient,
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
    answer = await _get(client, provider, request, batch_id=LIST_CALL, timeout_s=timeout_s)
    body = decode_answer(provider.name, LIST_CALL, answer.status_code, answer.headers, answer.body)
    return provider.parse_list(body, cursor=cursor, limit=limit)
