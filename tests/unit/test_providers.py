"""The retrieve-batch call to each OpenAI-family provider, against a fake provider HTTP API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from worker.errors import InputError, ProviderError, ProviderRejected, ProviderUnavailable
from worker.models import Connection, Snapshot
from worker.providers import get_provider, retrieve

BATCH = {
    "id": "batch_abc",
    "object": "batch",
    "endpoint": "/v1/chat/completions",
    "status": "completed",
    "output_file_id": "file-out",
    "error_file_id": "file-err",
    "request_counts": {"total": 10, "completed": 9, "failed": 1},
    "metadata": {"customer": "acme"},
}

Handler = Callable[[httpx.Request], httpx.Response]


def a_connection(
    provider: str,
    *,
    base_url: str | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> Connection:
    return Connection(
        id="conn_1",
        tenant="acme",
        provider=provider,
        base_url=base_url or get_provider(provider).default_base_url,
        api_key="sk-test-key",
        headers=headers or {},
        params=params,
        created_at=0.0,
    )


def call(conn: Connection, handler: Handler, batch_id: str = "batch_abc") -> Snapshot:
    async def run() -> Snapshot:
        transport = httpx.MockTransport(handler)
        async with httpx.AsyncClient(transport=transport) as client:
            return await retrieve(client, conn, batch_id, timeout_s=5.0)

    return asyncio.run(run())


def recording(
    seen: list[httpx.Request], status_code: int = 200, body: Any = BATCH, **kwargs: Any
) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status_code, json=body, **kwargs)

    return handler


def answering(status_code: int, body: Any = BATCH, **kwargs: Any) -> Handler:
    return recording([], status_code, body, **kwargs)


@pytest.mark.parametrize(
    ("provider", "url"),
    [
        ("openai", "https://api.openai.com/v1/batches/batch_abc"),
        ("openai_compatible", "https://api.openai.com/v1/batches/batch_abc"),
        ("keywordsai", "https://api.keywordsai.co/api/v1/batches/batch_abc/"),
        ("respan", "https://api.respan.ai/api/v1/batches/batch_abc/"),
        ("portkey", "https://api.portkey.ai/v1/batches/batch_abc"),
    ],
)
def test_retrieve_calls_the_providers_batch_url_with_the_api_key(provider: str, url: str) -> None:
    seen: list[httpx.Request] = []

    call(a_connection(provider), recording(seen))

    assert len(seen) == 1
    assert seen[0].method == "GET"
    assert str(seen[0].url) == url
    assert seen[0].headers["authorization"] == "Bearer sk-test-key"


@pytest.mark.parametrize(
    "base_url",
    ["https://llm.internal.example/openai/v1", "https://llm.internal.example/openai/v1/"],
)
def test_openai_compatible_appends_the_batch_path_to_a_custom_base_url(base_url: str) -> None:
    seen: list[httpx.Request] = []

    call(a_connection("openai_compatible", base_url=base_url), recording(seen))

    assert str(seen[0].url) == "https://llm.internal.example/openai/v1/batches/batch_abc"


def test_self_hosted_portkey_gateway_is_called_at_its_own_base_url() -> None:
    seen: list[httpx.Request] = []

    call(a_connection("portkey", base_url="http://localhost:8787/v1"), recording(seen))

    assert str(seen[0].url) == "http://localhost:8787/v1/batches/batch_abc"


def test_batch_id_is_escaped_in_the_path() -> None:
    seen: list[httpx.Request] = []

    call(a_connection("openai"), recording(seen), batch_id="batch/../files")

    assert seen[0].url.raw_path == b"/v1/batches/batch%2F..%2Ffiles"


@pytest.mark.parametrize(
    ("provider", "header"),
    [("keywordsai", "X-Data-Keywordsai-Params"), ("respan", "X-Data-Respan-Params")],
)
def test_tracking_params_travel_as_json_in_the_providers_header(provider: str, header: str) -> None:
    seen: list[httpx.Request] = []
    params = {"customer_identifier": "acme", "metadata": {"run": 7}}

    call(a_connection(provider, params=params), recording(seen))

    assert json.loads(seen[0].headers[header]) == params


def test_no_tracking_header_without_params() -> None:
    seen: list[httpx.Request] = []

    call(a_connection("keywordsai"), recording(seen))

    assert "x-data-keywordsai-params" not in seen[0].headers


def test_portkey_routing_headers_from_the_connection_are_sent() -> None:
    seen: list[httpx.Request] = []
    headers = {"x-portkey-provider": "openai", "x-portkey-virtual-key": "vk-123"}

    call(a_connection("portkey", headers=headers), recording(seen))

    assert seen[0].headers["x-portkey-provider"] == "openai"
    assert seen[0].headers["x-portkey-virtual-key"] == "vk-123"
    assert seen[0].headers["authorization"] == "Bearer sk-test-key"


def test_the_connections_api_key_wins_over_an_authorization_header() -> None:
    seen: list[httpx.Request] = []
    headers = {"authorization": "Bearer someone-elses-key"}

    call(a_connection("openai_compatible", headers=headers), recording(seen))

    assert seen[0].headers.get_list("authorization") == ["Bearer sk-test-key"]


def test_a_batch_answer_becomes_a_snapshot() -> None:
    snapshot = call(a_connection("openai"), answering(200))

    assert snapshot.batch_id == "batch_abc"
    assert snapshot.status == "completed"
    assert snapshot.is_terminal
    assert snapshot.output_file_id == "file-out"
    assert snapshot.error_file_id == "file-err"
    assert snapshot.request_counts == {"total": 10, "completed": 9, "failed": 1}
    assert snapshot.raw == BATCH


def test_a_batch_still_running_has_no_files_yet() -> None:
    running = {"id": "batch_abc", "object": "batch", "status": "in_progress"}

    snapshot = call(a_connection("respan"), answering(200, running))

    assert snapshot.status == "in_progress"
    assert not snapshot.is_terminal
    assert snapshot.output_file_id is None
    assert snapshot.error_file_id is None
    assert snapshot.request_counts is None


@pytest.mark.parametrize("status_code", [401, 404])
@pytest.mark.parametrize(
    ("provider", "body", "message"),
    [
        (
            "openai",
            {
                "error": {
                    "message": "No batch found with id 'batch_abc'.",
                    "type": "invalid_request",
                }
            },
            "No batch found with id 'batch_abc'.",
        ),
        (
            "keywordsai",
            {"error": "Authentication credentials were not provided."},
            "Authentication credentials were not provided.",
        ),
    ],
)
def test_rejection_is_permanent_and_carries_the_providers_message(
    status_code: int, provider: str, body: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProviderRejected) as caught:
        call(a_connection(provider), answering(status_code, body))

    assert message in str(caught.value)
    assert caught.value.status_code == status_code
    assert caught.value.batch_id == "batch_abc"


@pytest.mark.parametrize(
    ("headers", "retry_after_s"),
    [({"retry-after": "20"}, 20.0), ({"retry-after-ms": "1500"}, 1.5)],
)
def test_rate_limit_is_retryable_after_the_providers_delay(
    headers: dict[str, str], retry_after_s: float
) -> None:
    body = {"error": {"message": "Rate limit reached", "type": "rate_limit"}}

    with pytest.raises(ProviderUnavailable) as caught:
        call(a_connection("openai"), answering(429, body, headers=headers))

    assert caught.value.status_code == 429
    assert caught.value.retry_after_s == retry_after_s
    assert "Rate limit reached" in str(caught.value)


def test_portkey_gateway_failure_is_retryable() -> None:
    body = {"status": "failure", "message": "Something went wrong"}

    with pytest.raises(ProviderUnavailable) as caught:
        call(a_connection("portkey"), answering(500, body))

    assert caught.value.status_code == 500
    assert "Something went wrong" in str(caught.value)


def test_connection_failure_is_retryable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ProviderUnavailable):
        call(a_connection("openai"), refuse)


def test_html_error_page_is_retryable_not_a_crash() -> None:
    def bad_gateway(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>502 Bad Gateway</html>")

    with pytest.raises(ProviderUnavailable, match="502"):
        call(a_connection("openai"), bad_gateway)


def test_answer_without_a_status_is_not_taken_for_a_batch() -> None:
    with pytest.raises(ProviderUnavailable):
        call(a_connection("openai"), answering(200, {"id": "batch_abc"}))


def test_redirects_are_not_followed() -> None:
    seen: list[httpx.Request] = []

    def redirect(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"location": "https://elsewhere.example/steal"})

    with pytest.raises(ProviderError):
        call(a_connection("openai"), redirect)
    assert len(seen) == 1


def test_unknown_provider_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown provider"):
        get_provider("not-a-provider")
