"""Provider adapters: each knows one family's URL shape, headers and answers.

``retrieve`` is the one call the poll path makes; every adapter turns the provider's
answer into one normalised ``Snapshot`` or raises a ``ProviderError``.
"""

from __future__ import annotations

import httpx

from worker.errors import InputError, ProviderUnavailable
from worker.models import Connection, Snapshot
from worker.providers.base import Provider, RetrieveRequest, parse_answer
from worker.providers.openai_family import OPENAI_FAMILY

REGISTRY: dict[str, Provider] = {p.name: p for p in OPENAI_FAMILY}

__all__ = ["REGISTRY", "Provider", "RetrieveRequest", "get_provider", "retrieve"]


def get_provider(name: str) -> Provider:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise InputError(f"unknown provider {name!r}; known: {known}") from None


async def retrieve(
    client: httpx.AsyncClient, conn: Connection, batch_id: str, *, timeout_s: float
) -> Snapshot:
    """One *retrieve batch* call, normalised."""
    provider = get_provider(conn.provider)
    request = provider.retrieve_request(conn, batch_id)
    try:
        response = await client.get(
            request.url, headers=request.headers, timeout=timeout_s, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(
            f"{type(exc).__name__} calling {provider.name}", batch_id=batch_id
        ) from exc
    return parse_answer(
        provider, batch_id, response.status_code, response.headers, response.content
    )
