"""Signed links to result files, and the proxy's reading of a provider's file answers."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pydantic
import pytest

from tests.unit.test_providers import a_connection
from worker import keys
from worker.errors import (
    ConfigError,
    Forbidden,
    NotFound,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from worker.models import Connection
from worker.providers import ResultKind
from worker.results import check_link, link_signature, open_result, result_links, result_url
from worker.settings import Settings

SECRET = "unit-secret-key"
NOW = 1_800_000_000
WATCH = keys.watch_id("acme", "batch_abc")
BATCH = {"id": "batch_abc", "output_file_id": "file-out", "error_file_id": "file-err"}
KEY = "sk-test-key"


def link_query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def checked(query: dict[str, str], kind: str = "output", now: float = NOW) -> str:
    return check_link(
        SECRET,
        watch_id=query.get("watch"),
        kind=kind,
        expires=query.get("expires"),
        signature=query.get("signature"),
        now=now,
    )


# --- links ---------------------------------------------------------------------------------


def test_a_result_url_names_the_batch_kind_and_signed_watch() -> None:
    url = result_url("https://hooks.example.com/", "batch_abc", WATCH, "errors", NOW + 60, SECRET)

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "hooks.example.com",
        "/v1/batches/batch_abc/errors",
    )
    query = link_query(url)
    assert query["watch"] == WATCH and query["expires"] == str(NOW + 60)
    assert query["signature"] == link_signature(SECRET, WATCH, "errors", NOW + 60)
    assert "=" not in query["signature"], "URL-safe base64 without padding"


def test_a_batch_id_keeps_its_slashes_and_escapes_the_rest() -> None:
    url = result_url("http://h", "arn:aws:x/job 1?", WATCH, "output", NOW, SECRET)

    assert urlsplit(url).path == "/v1/batches/arn%3Aaws%3Ax/job%201%3F/output"


def test_a_genuine_link_opens_until_it_expires() -> None:
    query = link_query(result_url("http://h", "batch_abc", WATCH, "output", NOW + 60, SECRET))

    assert checked(query, now=NOW) == WATCH
    with pytest.raises(Forbidden, match="expired"):
        checked(query, now=NOW + 61)


@pytest.mark.parametrize(
    "change",
    [
        {"signature": "A" * 43},
        {"expires": str(NOW + 86400)},
        {"expires": "soon"},
        {"expires": "1e12"},
        {"watch": keys.watch_id("acme", "batch_other")},
        {"signature": None},
        {"watch": ""},
        {"signature": "ümlaut"},
    ],
)
def test_a_changed_or_incomplete_link_is_forbidden(change: dict[str, str | None]) -> None:
    query = link_query(result_url("http://h", "batch_abc", WATCH, "output", NOW + 60, SECRET))
    tampered = {k: v for k, v in {**query, **change}.items() if v is not None}

    with pytest.raises(Forbidden):
        checked(tampered)


def test_a_link_to_the_output_does_not_open_the_errors() -> None:
    query = link_query(result_url("http://h", "batch_abc", WATCH, "output", NOW + 60, SECRET))

    with pytest.raises(Forbidden, match="signature"):
        checked(query, kind="errors")


def test_a_link_made_with_another_secret_key_is_forbidden() -> None:
    url = result_url("http://h", "batch_abc", WATCH, "output", NOW + 60, "another-secret-key")

    with pytest.raises(Forbidden):
        checked(link_query(url))


def test_link_signatures_are_not_the_plain_hmac_of_the_secret_key() -> None:
    message = f"{WATCH}.output.{NOW}".encode()
    plain = hmac.new(SECRET.encode(), message, hashlib.sha256).digest()

    assert link_signature(SECRET, WATCH, "output", NOW) != (
        base64.urlsafe_b64encode(plain).rstrip(b"=").decode()
    ), "the link key is derived for links alone"


def test_result_links_sign_a_link_per_file_the_batch_has() -> None:
    settings = Settings(secret_key=SECRET, public_url="https://hooks.example.com")

    links = result_links(
        settings,
        tenant="acme",
        batch_id="batch_abc",
        output_file_id="file-out",
        error_file_id=None,
        expires_at=NOW + 60,
    )

    assert links["error_url"] is None
    assert links["output_url"] == result_url(
        "https://hooks.example.com", "batch_abc", WATCH, "output", NOW + 60, SECRET
    )


def test_result_links_need_the_secret_key() -> None:
    with pytest.raises(ConfigError, match="BATCHHOOK_SECRET_KEY"):
        result_links(
            Settings(secret_key=None),
            tenant="acme",
            batch_id="batch_abc",
            output_file_id="file-out",
            error_file_id="file-err",
            expires_at=NOW,
        )


# --- the public URL setting ----------------------------------------------------------------


def test_the_public_url_defaults_to_this_hosts_port_and_loses_a_trailing_slash() -> None:
    assert Settings(port=8123).effective_public_url == "http://localhost:8123"
    assert Settings(public_url="").effective_public_url == "http://localhost:8000"
    assert (
        Settings(public_url="https://hooks.example.com/bh/").effective_public_url
        == "https://hooks.example.com/bh"
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com",
        "hooks.example.com",
        "https://",
        "https://h:port",
        "https://h/?a=1",
    ],
)
def test_a_public_url_that_is_no_http_base_url_is_refused_by_name(url: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="BATCHHOOK_PUBLIC_URL must be"):
        Settings(public_url=url)


# --- the proxy -----------------------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def fetch(
    handler: Handler,
    *,
    conn: Connection | None = None,
    batch: dict[str, Any] | None = BATCH,
    kind: ResultKind = "output",
) -> tuple[str, int | None, bytes]:
    """(content type, content length, body) of the file as the proxy hands it on."""

    async def run() -> tuple[str, int | None, bytes]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            stream = await open_result(
                client,
                conn or a_connection("openai"),
                batch,
                kind,
                batch_id="batch_abc",
                timeout_s=5,
            )
            body = b"".join([chunk async for chunk in stream.chunks()])
            return stream.content_type, stream.content_length, body

    return asyncio.run(run())


def failing(handler: Handler, **kwargs: Any) -> ProviderError | NotFound:
    with pytest.raises((ProviderError, NotFound)) as caught:
        fetch(handler, **kwargs)
    assert KEY not in str(caught.value)
    error = caught.value
    assert isinstance(error, ProviderError | NotFound)
    return error


def test_the_file_streams_with_the_providers_type_and_length() -> None:
    body = b'{"custom_id": "r1"}\n' * 10_000
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})

    assert fetch(handler) == ("application/x-ndjson", len(body), body)
    assert str(seen[0].url) == "https://api.openai.com/v1/files/file-out/content"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_a_file_without_a_type_is_json_lines_and_one_sent_compressed_has_no_length() -> None:
    body = b'{"custom_id": "r1"}\n' * 100

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=gzip.compress(body), headers={"content-encoding": "gzip"}
        )

    assert fetch(handler) == ("application/jsonl", None, body)


def test_a_batch_without_the_file_is_not_found_without_asking_the_provider() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    error = failing(handler, kind="errors", batch={**BATCH, "error_file_id": None})

    assert isinstance(error, NotFound)
    assert str(error) == "batch 'batch_abc' has no error file"
    assert seen == []


def test_a_provider_404_is_not_found_with_its_message() -> None:
    body = {"error": {"message": "No such File object: file-out", "type": "invalid_request_error"}}

    error = failing(lambda _: httpx.Response(404, json=body))

    assert isinstance(error, NotFound)
    assert "No such File object: file-out" in str(error)


@pytest.mark.parametrize("code", [401, 403])
def test_a_refused_key_is_rejected_without_the_providers_text(code: int) -> None:
    body = {"error": {"message": f"Incorrect API key provided: {KEY[:5]}***{KEY[-3:]}"}}

    error = failing(lambda _: httpx.Response(code, json=body))

    assert isinstance(error, ProviderRejected) and error.status_code == code
    assert "refused the API key stored with connection conn_1" in str(error)
    assert "***" not in str(error)


def test_other_answers_are_unavailable_with_the_credentials_blanked_out() -> None:
    conn = a_connection("portkey", headers={"x-portkey-api-key": "pk-secret-gateway-key"})
    body = {"error": {"message": f"upstream said: key {KEY} via pk-secret-gateway-key"}}

    error = failing(lambda _: httpx.Response(500, json=body), conn=conn)

    assert isinstance(error, ProviderUnavailable) and error.status_code == 500
    assert "upstream said: key [redacted] via [redacted]" in str(error)
    assert "pk-secret-gateway-key" not in str(error)


def test_a_redirect_is_not_followed() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"location": "https://elsewhere.example/f"})

    error = failing(handler)

    assert isinstance(error, ProviderUnavailable) and error.status_code == 302
    assert len(seen) == 1


def test_a_provider_that_cannot_be_reached_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    error = failing(handler)

    assert isinstance(error, ProviderUnavailable)
    assert str(error) == "ConnectError calling openai for the output file"


def test_a_body_broken_off_half_way_raises_unavailable_without_the_cause_text() -> None:
    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b'{"custom_id": "r1"}\n'
            raise httpx.ReadError(f"connection reset (key {KEY})")

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Broken())

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            stream = await open_result(
                client, a_connection("openai"), BATCH, "output", batch_id="batch_abc", timeout_s=5
            )
            async for _ in stream.chunks():
                pass

    with pytest.raises(ProviderUnavailable) as caught:
        asyncio.run(run())

    assert str(caught.value) == "ReadError reading the output file from openai"
