"""A batch's result files: signed links to them, and the proxy that streams them.

Links. Terminal events carry ``data.output_url`` / ``data.error_url``::

    {public_url}/v1/batches/{batch_id}/{output|errors}?watch=wat_...&expires=E&signature=S

``S`` is HMAC-SHA256 over ``"{watch_id}.{kind}.{E}"`` (URL-safe base64, no padding) under
a key derived from ``BATCHHOOK_SECRET_KEY`` for links alone (``LINK_DOMAIN``): a link
opens one file of one watch, with no token, until ``E`` (Unix seconds). ``check_link``
refuses anything else with ``Forbidden`` (403). A new secret key voids every link.

Proxy. ``open_result`` asks the provider for the file (``Provider.result_request``: the
stored key in the retrieve's header) and hands its body on in chunks as they arrive, never
the whole file in memory. A 2xx streams, with the provider's content-type (default
``application/jsonl``) and content-length when it gave one; 404 is ``NotFound``; 401 and
403 are ``ProviderRejected`` (the stored key was refused); anything else, a redirect
included (none is followed), is ``ProviderUnavailable``. Messages carry the provider's
error text with the stored credentials blanked out, never a key.
"""

from __future__ import annotations

import base64
import functools
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx
import structlog

from worker import jsoncodec, keys
from worker.errors import (
    BatchhookError,
    ConfigError,
    Forbidden,
    NotFound,
    ProviderRejected,
    ProviderUnavailable,
)
from worker.models import DEFAULT_EVENT_TYPES, REDACTED, SENSITIVE_HEADER, Connection, Endpoint
from worker.providers import (
    RESULT_KINDS,
    FileClient,
    ResultKind,
    RetrieveRequest,
    failure_kind,
    get_provider,
)
from worker.providers.base import error_message
from worker.records import frozen
from worker.settings import Settings

log = structlog.get_logger()

LINK_DOMAIN = b"batchhook-result-links"
TERMINAL_EVENT_TYPES = frozenset(DEFAULT_EVENT_TYPES)  # the events that carry links
CHUNK_BYTES = 64 * 1024
ERROR_BODY_BYTES = 64 * 1024  # read of a refusal, for its message
DEFAULT_CONTENT_TYPE = "application/jsonl"
FILE_NAMES: dict[ResultKind, str] = {"output": "output file", "errors": "error file"}
MIN_SECRET_CHARS = 6  # shorter "secrets" are not blanked out of messages: they would maul them
NETWORK_ERRORS = (httpx.HTTPError, aiohttp.ClientError, TimeoutError, OSError)


# --- signed links --------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _link_key(secret_key: str) -> bytes:
    """Cached: every link of a deployment is signed with the one key."""
    return hmac.digest(secret_key.encode(), LINK_DOMAIN, "sha256")


def link_signature(secret_key: str, watch_id: str, kind: str, expires_at: int) -> str:
    """The ``signature`` of a link to ``kind`` of the watch, valid until ``expires_at``."""
    if not secret_key:
        raise ConfigError("BATCHHOOK_SECRET_KEY is required to sign result links")
    message = f"{watch_id}.{kind}.{int(expires_at)}".encode()
    digest = hmac.digest(_link_key(secret_key), message, "sha256")
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def result_url(
    public_url: str, batch_id: str, watch_id: str, kind: str, expires_at: int, secret_key: str
) -> str:
    """A link to the batch's ``kind`` file ("output" or "errors") that needs no token."""
    if kind not in RESULT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(RESULT_KINDS)}, not {kind!r}")
    # What urlencode writes, without its per-pair work: a Unix time and an URL-safe
    # base64 signature need no quoting.
    signature = link_signature(secret_key, watch_id, kind, expires_at)
    query = f"watch={quote(watch_id, safe='')}&expires={int(expires_at)}&signature={signature}"
    return f"{public_url.rstrip('/')}/v1/batches/{quote(batch_id, safe='/')}/{kind}?{query}"


def check_link(
    secret_key: str,
    *,
    watch_id: str | None,
    kind: str,
    expires: str | None,
    signature: str | None,
    now: float,
) -> str:
    """The watch id of a genuine, unexpired link (its query's values as given); else
    ``Forbidden``. The signature is compared in constant time."""
    if not secret_key:
        raise Forbidden("result links cannot be checked: BATCHHOOK_SECRET_KEY is unset")
    if not (watch_id and expires and signature):
        raise Forbidden("a result link needs its watch, expires and signature parameters")
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
        raise Forbidden("this result link is not valid: expires is not a Unix time")
    expected = link_signature(secret_key, watch_id, kind, int(expires))
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Forbidden("this result link is not valid: its signature does not match")
    if int(expires) < now:
        raise Forbidden(f"this result link expired at {int(expires)} (Unix time)")
    return watch_id


def result_links(
    settings: Settings,
    *,
    tenant: str,
    batch_id: str,
    output_file_id: str | None,
    error_file_id: str | None,
    expires_at: int,
) -> dict[str, str | None]:
    """``{"output_url", "error_url"}`` of a terminal event: a signed link for each file
    the batch has, None for one it has not. The file ids are only looked at for presence;
    pass the watch summary's (Anthropic's ``results_url`` is its ``output_file_id``)."""
    if not settings.secret_key:
        raise ConfigError("BATCHHOOK_SECRET_KEY is required to sign result links")
    secret_key, wid = settings.secret_key, keys.watch_id(tenant, batch_id)
    base = settings.effective_public_url

    def link(kind: ResultKind, file_id: str | None) -> str | None:
        if not file_id:
            return None
        return result_url(base, batch_id, wid, kind, expires_at, secret_key)

    return {
        "output_url": link("output", output_file_id),
        "error_url": link("errors", error_file_id),
    }


# --- the proxy -----------------------------------------------------------------------------


def with_result_links(
    body: str, event_type: str, endpoint: Endpoint, settings: Settings, now: float
) -> str:
    """A terminal event's body as sent to ``endpoint``: ``data.output_url`` and
    ``data.error_url`` signed for the endpoint's ``result_links_ttl`` from this attempt,
    so a delivery retried hours later still carries links that work. Other events, and
    a deployment without a secret key, are sent as stored."""
    return with_links_for(
        body,
        event_type,
        endpoint.tenant,
        settings,
        expires_at=int(now) + endpoint.result_links_ttl_s,
    )


def with_links_for(
    body: str, event_type: str, tenant: str, settings: Settings, *, expires_at: int
) -> str:
    """A terminal event's body with its result links, valid until ``expires_at``: as
    an endpoint gets it, or the event stream (which has no endpoint) sends it."""
    if event_type not in TERMINAL_EVENT_TYPES or not settings.secret_key:
        return body
    event = jsoncodec.loads(body)
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return body
    data.update(
        result_links(
            settings,
            tenant=tenant,
            batch_id=data["id"],
            output_file_id=data.get("output_file_id"),
            error_file_id=data.get("error_file_id"),
            expires_at=expires_at,
        )
    )
    return jsoncodec.dumps_compact(event)


@frozen
class Upstream:
    """The provider's answer, its head read and its body not yet."""

    status_code: int
    headers: Mapping[str, str]
    body: AsyncIterator[bytes]
    close: Callable[[], Awaitable[None]]


@frozen
class ResultStream:
    """A result file on its way: the provider answered 2xx."""

    content_type: str
    content_length: int | None  # None: the provider did not say (or sent it compressed)
    upstream: Upstream
    provider: str
    batch_id: str
    kind: ResultKind

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; the provider's connection is let go at the end, or
        when the reader stops early. A broken body raises ``ProviderUnavailable``."""
        sent = 0
        try:
            async for chunk in self.upstream.body:
                sent += len(chunk)
                yield chunk
        except NETWORK_ERRORS as exc:
            log.warning("result_stream_broken", **self._context(), bytes=sent)
            raise ProviderUnavailable(
                f"{failure_kind(exc)} reading the {FILE_NAMES[self.kind]} from {self.provider}",
                batch_id=self.batch_id,
            ) from exc
        finally:
            await self.aclose()
        log.info("result_streamed", **self._context(), bytes=sent)

    async def aclose(self) -> None:
        await self.upstream.close()

    def _context(self) -> dict[str, Any]:
        return {"provider": self.provider, "batch_id": self.batch_id, "kind": self.kind}


async def open_result(
    client: FileClient,
    conn: Connection,
    snapshot: dict[str, Any] | None,
    kind: ResultKind,
    *,
    batch_id: str,
    timeout_s: float,
) -> ResultStream:
    """Ask the provider for the ``kind`` file of the batch whose raw object is
    ``snapshot``; ``timeout_s`` bounds connecting and each wait for more of the body."""
    provider = get_provider(conn.provider)
    request = provider.result_request(conn, snapshot or {}, kind)
    if request is None:
        raise NotFound(f"batch {batch_id!r} has no {FILE_NAMES[kind]}")
    try:
        upstream = await _open(client, request, timeout_s)
    except NETWORK_ERRORS as exc:
        message = f"{failure_kind(exc)} calling {provider.name} for the {FILE_NAMES[kind]}"
        raise ProviderUnavailable(message, batch_id=batch_id) from exc
    if 200 <= upstream.status_code < 300:
        return ResultStream(
            content_type=upstream.headers.get("content-type") or DEFAULT_CONTENT_TYPE,
            content_length=_length(upstream.headers),
            upstream=upstream,
            provider=provider.name,
            batch_id=batch_id,
            kind=kind,
        )
    try:
        body = await _head_of(upstream.body, ERROR_BODY_BYTES)
    except NETWORK_ERRORS:
        body = b""
    finally:
        await upstream.close()
    log.warning(
        "result_refused",
        provider=provider.name,
        batch_id=batch_id,
        kind=kind,
        status_code=upstream.status_code,
    )
    raise refusal(provider.name, conn, request, kind, batch_id, upstream.status_code, body)


def refusal(
    provider: str,
    conn: Connection,
    request: RetrieveRequest,
    kind: ResultKind,
    batch_id: str,
    status_code: int,
    body: bytes,
) -> BatchhookError:
    """The error for a provider's non-2xx answer to a file request. Pure."""
    name = FILE_NAMES[kind]
    if status_code in (401, 403):
        return ProviderRejected(
            f"{provider} refused the API key stored with connection {conn.id} "
            f"(it answered {status_code} to the request for the {name})",
            batch_id=batch_id,
            status_code=status_code,
        )
    message = blanked(error_message(body), _secrets(conn, request))
    if status_code == 404:
        return NotFound(f"{provider} has no {name} of batch {batch_id!r} (404: {message})")
    return ProviderUnavailable(
        f"{provider} answered {status_code} to the request for the {name}: {message}",
        batch_id=batch_id,
        status_code=status_code,
    )


def blanked(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret in it replaced by ``[redacted]``. Pure."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, REDACTED)
    return text


def _secrets(conn: Connection, request: RetrieveRequest) -> list[str]:
    sensitive = [v for n, v in request.headers.items() if SENSITIVE_HEADER.search(n)]
    return [conn.api_key, *sensitive]


def _length(headers: Mapping[str, str]) -> int | None:
    """The body's length as the caller gets it: none when it arrives compressed (the
    clients decompress it), or when the provider gave none."""
    if headers.get("content-encoding", "identity").lower() != "identity":
        return None
    declared = headers.get("content-length", "")
    return int(declared) if declared.isascii() and declared.isdigit() else None


async def _head_of(body: AsyncIterator[bytes], limit: int) -> bytes:
    head = b""
    async for chunk in body:
        head += chunk
        if len(head) >= limit:
            break
    return head[:limit]


async def _open(client: FileClient, request: RetrieveRequest, timeout_s: float) -> Upstream:
    """The GET with its head read: httpx for tests' mock transports, aiohttp (the guarded
    session of ``destinations``) in the web process. No redirect is followed."""
    if isinstance(client, httpx.AsyncClient):
        sent = client.build_request("GET", request.url, headers=request.headers, timeout=timeout_s)
        response = await client.send(sent, stream=True, follow_redirects=False)
        chunks = response.aiter_bytes(CHUNK_BYTES)
        return Upstream(response.status_code, response.headers, chunks, response.aclose)
    timeout = aiohttp.ClientTimeout(total=None, connect=timeout_s, sock_read=timeout_s)
    answer = await client.get(
        request.url, headers=request.headers, allow_redirects=False, timeout=timeout
    )
    return Upstream(
        answer.status, answer.headers, answer.content.iter_chunked(CHUNK_BYTES), _closer(answer)
    )


def _closer(answer: aiohttp.ClientResponse) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        # Read to the end: the connection goes back to the pool; cut short: it is closed.
        if answer.content.at_eof():
            answer.release()
        else:
            answer.close()

    return close
