"""The retrieve-batch call to each OpenAI-family provider, against a fake provider HTTP API."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pydantic
import pytest

from worker.api.schemas import ConnectionIn
from worker.errors import InputError, ProviderError, ProviderRejected, ProviderUnavailable
from worker.models import PROVIDERS, Connection, Snapshot
from worker.providers import REGISTRY, BatchPage, get_provider, list_batches, retrieve

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
AZURE_ENDPOINT = "https://res.openai.azure.com"
BEARER = {"authorization": "Bearer sk-test-key"}
ANTHROPIC_AUTH = {"x-api-key": "sk-test-key", "anthropic-version": "2023-06-01"}
AZURE_AUTH = {"api-key": "sk-test-key"}


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
        base_url=base_url or get_provider(provider).default_base_url or AZURE_ENDPOINT,
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


def listing(conn: Connection, handler: Handler, cursor: str | None = None) -> BatchPage:
    async def run() -> BatchPage:
        transport = httpx.MockTransport(handler)
        async with httpx.AsyncClient(transport=transport) as client:
            return await list_batches(client, conn, cursor=cursor, limit=2, timeout_s=5.0)

    return asyncio.run(run())


RETRIEVE_URLS = [
    ("openai", "https://api.openai.com/v1/batches/batch_abc", BEARER),
    ("openai_compatible", "https://api.openai.com/v1/batches/batch_abc", BEARER),
    ("keywordsai", "https://api.keywordsai.co/api/v1/batches/batch_abc/", BEARER),
    ("respan", "https://api.respan.ai/api/v1/batches/batch_abc/", BEARER),
    ("portkey", "https://api.portkey.ai/v1/batches/batch_abc", BEARER),
    ("together", "https://api.together.xyz/v1/batches/batch_abc", BEARER),
    ("groq", "https://api.groq.com/openai/v1/batches/batch_abc", BEARER),
    ("litellm", "http://localhost:4000/v1/batches/batch_abc", BEARER),
    ("mistral", "https://api.mistral.ai/v1/batch/jobs/batch_abc", BEARER),
    ("anthropic", "https://api.anthropic.com/v1/messages/batches/batch_abc", ANTHROPIC_AUTH),
    ("azure", f"{AZURE_ENDPOINT}/openai/batches/batch_abc?api-version=2024-10-21", AZURE_AUTH),
]


@pytest.mark.parametrize(("provider", "url", "auth"), RETRIEVE_URLS)
def test_retrieve_calls_the_providers_batch_url_with_the_api_key(
    provider: str, url: str, auth: dict[str, str]
) -> None:
    seen: list[httpx.Request] = []
    body = {"anthropic": anthropic_batch("ended"), "mistral": mistral_job("RUNNING")}

    call(a_connection(provider), recording(seen, body=body.get(provider, BATCH)))

    assert len(seen) == 1
    assert seen[0].method == "GET"
    assert str(seen[0].url) == url
    assert {name: seen[0].headers.get(name) for name in auth} == auth
    other_auth = {"authorization", "x-api-key", "api-key"} - set(auth)
    assert not other_auth & set(seen[0].headers), "the key travels in one header only"


def test_every_provider_the_api_names_has_an_adapter() -> None:
    assert sorted(PROVIDERS) == sorted(REGISTRY)


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


# --- Azure ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "params", "url"),
    [
        (AZURE_ENDPOINT, None, "/openai/batches/batch_abc?api-version=2024-10-21"),
        (AZURE_ENDPOINT + "/", None, "/openai/batches/batch_abc?api-version=2024-10-21"),
        (AZURE_ENDPOINT + "/openai", None, "/openai/batches/batch_abc?api-version=2024-10-21"),
        (
            AZURE_ENDPOINT,
            {"api_version": "2025-04-01-preview"},
            "/openai/batches/batch_abc?api-version=2025-04-01-preview",
        ),
        (AZURE_ENDPOINT + "/openai/v1", None, "/openai/v1/batches/batch_abc"),
        (AZURE_ENDPOINT + "/openai/v1/", None, "/openai/v1/batches/batch_abc"),
        (
            AZURE_ENDPOINT + "/openai/v1",
            {"api_version": "preview"},
            "/openai/v1/batches/batch_abc?api-version=preview",
        ),
    ],
)
def test_azure_calls_the_dated_or_the_v1_url_form(
    base_url: str, params: dict[str, Any] | None, url: str
) -> None:
    seen: list[httpx.Request] = []

    call(a_connection("azure", base_url=base_url, params=params), recording(seen))

    assert str(seen[0].url) == AZURE_ENDPOINT + url
    assert seen[0].headers["api-key"] == "sk-test-key"
    assert not [name for name in seen[0].headers if "param" in name or "version" in name]


def test_azure_batch_without_expiry_and_with_its_own_endpoint_field() -> None:
    body = {**BATCH, "endpoint": "/chat/completions", "expires_at": None, "created_at": 1711471533}

    snapshot = call(a_connection("azure"), answering(200, body))

    assert snapshot.status == "completed"
    assert snapshot.expires_at is None
    assert snapshot.created_at == 1711471533.0
    assert snapshot.raw["endpoint"] == "/chat/completions"


# --- list calls -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "base_url", "first", "next_page", "auth"),
    [
        (
            "openai",
            None,
            "https://api.openai.com/v1/batches?limit=2",
            "https://api.openai.com/v1/batches?limit=2&after=batch_2",
            BEARER,
        ),
        (
            "keywordsai",
            None,
            "https://api.keywordsai.co/api/v1/batches/?limit=2",
            "https://api.keywordsai.co/api/v1/batches/?limit=2&after=batch_2",
            BEARER,
        ),
        (
            "respan",
            None,
            "https://api.respan.ai/api/v1/batches/?limit=2",
            "https://api.respan.ai/api/v1/batches/?limit=2&after=batch_2",
            BEARER,
        ),
        (
            "groq",
            None,
            "https://api.groq.com/openai/v1/batches?limit=2",
            "https://api.groq.com/openai/v1/batches?limit=2&after=batch_2",
            BEARER,
        ),
        (
            "anthropic",
            None,
            "https://api.anthropic.com/v1/messages/batches?limit=2",
            "https://api.anthropic.com/v1/messages/batches?limit=2&after_id=batch_2",
            ANTHROPIC_AUTH,
        ),
        (
            "mistral",
            None,
            "https://api.mistral.ai/v1/batch/jobs?page=0&page_size=2",
            "https://api.mistral.ai/v1/batch/jobs?page=1&page_size=2",
            BEARER,
        ),
        (
            "azure",
            None,
            f"{AZURE_ENDPOINT}/openai/batches?limit=2&api-version=2024-10-21",
            f"{AZURE_ENDPOINT}/openai/batches?limit=2&after=batch_2&api-version=2024-10-21",
            AZURE_AUTH,
        ),
        (
            "azure",
            AZURE_ENDPOINT + "/openai/v1",
            f"{AZURE_ENDPOINT}/openai/v1/batches?limit=2",
            f"{AZURE_ENDPOINT}/openai/v1/batches?limit=2&after=batch_2",
            AZURE_AUTH,
        ),
    ],
)
def test_list_call_pages_through_the_account_with_the_providers_cursor(
    provider: str, base_url: str | None, first: str, next_page: str, auth: dict[str, str]
) -> None:
    seen: list[httpx.Request] = []
    conn = a_connection(provider, base_url=base_url)
    page_one = LIST_ANSWERS[provider](["batch_1", "batch_2"], more=True)

    page = listing(conn, recording(seen, body=page_one))
    listing(conn, recording(seen, body=page_one), cursor=page.next_cursor)

    assert [s.batch_id for s in page.snapshots] == ["batch_1", "batch_2"]
    assert [str(r.url) for r in seen] == [first, next_page]
    assert {name: seen[0].headers.get(name) for name in auth} == auth


def openai_list(ids: list[str], *, more: bool) -> dict[str, Any]:
    data = [{**BATCH, "id": i} for i in ids]
    return {
        "object": "list",
        "data": data,
        "first_id": ids[0],
        "last_id": ids[-1],
        "has_more": more,
    }


def anthropic_list(ids: list[str], *, more: bool) -> dict[str, Any]:
    data = [anthropic_batch("ended", id=i) for i in ids]
    return {"data": data, "first_id": ids[0], "last_id": ids[-1], "has_more": more}


def mistral_list(ids: list[str], *, more: bool) -> dict[str, Any]:
    data = [mistral_job("RUNNING", id=i) for i in ids]
    return {"object": "list", "data": data, "total": len(ids) + (5 if more else 0)}


LIST_ANSWERS: dict[str, Callable[..., dict[str, Any]]] = {
    "openai": openai_list,
    "keywordsai": openai_list,
    "respan": openai_list,
    "groq": openai_list,
    "azure": openai_list,
    "anthropic": anthropic_list,
    "mistral": mistral_list,
}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "mistral"])
def test_the_last_page_has_no_cursor(provider: str) -> None:
    last = LIST_ANSWERS[provider](["batch_9"], more=False)

    page = listing(a_connection(provider), answering(200, last), cursor="3")

    assert [s.batch_id for s in page.snapshots] == ["batch_9"]
    assert page.next_cursor is None


def test_mistral_pages_go_on_until_the_total_is_listed() -> None:
    provider = get_provider("mistral")
    body = {"object": "list", "data": [mistral_job("QUEUED", id="j5")], "total": 7}

    assert provider.parse_list(body, cursor="2", limit=3).next_cursor is None
    assert provider.parse_list(body, cursor="1", limit=3).next_cursor == "2"


def test_together_lists_batches_as_a_bare_array() -> None:
    seen: list[httpx.Request] = []
    body = [together_batch("COMPLETED", id="b1"), together_batch("IN_PROGRESS", id="b2")]

    page = listing(a_connection("together"), recording(seen, body=body))

    assert str(seen[0].url) == "https://api.together.xyz/v1/batches?limit=2"
    assert [(s.batch_id, s.status) for s in page.snapshots] == [
        ("b1", "completed"),
        ("b2", "in_progress"),
    ]
    assert page.next_cursor is None


def test_a_refused_list_call_is_a_provider_error() -> None:
    body = {"type": "error", "error": {"type": "authentication_error", "message": "bad key"}}

    with pytest.raises(ProviderRejected, match="bad key") as caught:
        listing(a_connection("anthropic"), answering(401, body))
    assert caught.value.status_code == 401


def test_list_limit_stays_within_what_the_provider_accepts() -> None:
    openai, anthropic = get_provider("openai"), get_provider("anthropic")
    conn = a_connection("openai")

    assert openai.list_request(conn, None, 5000).url.endswith("?limit=100")
    assert anthropic.list_request(conn, None, 5000).url.endswith("?limit=1000")
    assert openai.list_request(conn, None, 0).url.endswith("?limit=1")


# --- status words ---------------------------------------------------------------------------


def anthropic_batch(processing_status: str, **fields: Any) -> dict[str, Any]:
    counts = {"processing": 0, "succeeded": 3, "errored": 1, "canceled": 0, "expired": 0}
    return {
        "id": "batch_abc",
        "type": "message_batch",
        "processing_status": processing_status,
        "request_counts": counts,
        "created_at": "2024-08-20T18:37:24.100435Z",
        "expires_at": "2024-08-21T18:37:24.100435Z",
        "ended_at": "2024-08-20T18:40:00Z",
        "cancel_initiated_at": None,
        "archived_at": None,
        "results_url": "https://api.anthropic.com/v1/messages/batches/batch_abc/results",
        **fields,
    }


def mistral_job(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "batch_abc",
        "object": "batch",
        "status": status,
        "output_file": "file-out",
        "error_file": "file-err",
        "created_at": 1711471533,
        "total_requests": 10,
        "completed_requests": 9,
        "succeeded_requests": 8,
        "failed_requests": 1,
        **fields,
    }


def together_batch(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "batch_abc",
        "status": status,
        "created_at": "2024-03-26T16:45:33Z",
        "job_deadline": "2024-03-27T16:45:33Z",
        "output_file_id": "file-out",
        "error_file_id": None,
        **fields,
    }


def openai_batch(status: str, **fields: Any) -> dict[str, Any]:
    return {**BATCH, "status": status, **fields}


WORDS = [
    *[("openai", openai_batch, w, w) for w in ("validating", "in_progress", "finalizing")],
    *[("openai", openai_batch, w, w) for w in ("completed", "failed", "expired", "cancelled")],
    ("openai", openai_batch, "cancelling", "cancelling"),
    ("litellm", openai_batch, "complete", "completed"),
    ("together", together_batch, "VALIDATING", "validating"),
    ("together", together_batch, "IN_PROGRESS", "in_progress"),
    ("together", together_batch, "CANCELING", "cancelling"),
    ("together", together_batch, "COMPLETED", "completed"),
    ("together", together_batch, "FAILED", "failed"),
    ("together", together_batch, "EXPIRED", "expired"),
    ("together", together_batch, "CANCELLED", "cancelled"),
    ("mistral", mistral_job, "QUEUED", "validating"),
    ("mistral", mistral_job, "RUNNING", "in_progress"),
    ("mistral", mistral_job, "CANCELLATION_REQUESTED", "cancelling"),
    ("mistral", mistral_job, "SUCCESS", "completed"),
    ("mistral", mistral_job, "FAILED", "failed"),
    ("mistral", mistral_job, "TIMEOUT_EXCEEDED", "expired"),
    ("mistral", mistral_job, "CANCELLED", "cancelled"),
    ("anthropic", anthropic_batch, "in_progress", "in_progress"),
    ("anthropic", anthropic_batch, "canceling", "cancelling"),
    ("anthropic", anthropic_batch, "ended", "completed"),
    ("portkey", openai_batch, "submitted", "validating"),
    ("portkey", openai_batch, "scheduled", "validating"),
    ("portkey", openai_batch, "in_progress", "in_progress"),
    ("portkey", openai_batch, "InProgress", "in_progress"),
    ("portkey", openai_batch, "stopping", "cancelling"),
    ("portkey", openai_batch, "stopped", "cancelled"),
    ("portkey", openai_batch, "partially_completed", "completed"),
    ("portkey", openai_batch, "PartiallyCompleted", "completed"),
    ("portkey", openai_batch, "JOB_STATE_PENDING", "validating"),
    ("portkey", openai_batch, "JOB_STATE_QUEUED", "validating"),
    ("portkey", openai_batch, "JOB_STATE_RUNNING", "in_progress"),
    ("portkey", openai_batch, "JOB_STATE_PAUSED", "in_progress"),
    ("portkey", openai_batch, "JOB_STATE_CANCELLING", "cancelling"),
    ("portkey", openai_batch, "JOB_STATE_SUCCEEDED", "completed"),
    ("portkey", openai_batch, "JOB_STATE_PARTIALLY_SUCCEEDED", "completed"),
    ("portkey", openai_batch, "JOB_STATE_FAILED", "failed"),
    ("portkey", openai_batch, "JOB_STATE_EXPIRED", "expired"),
    ("portkey", openai_batch, "JOB_STATE_CANCELLED", "cancelled"),
]


@pytest.mark.parametrize(
    ("provider", "shape", "word", "status"), WORDS, ids=[f"{p}-{w}" for p, _, w, _ in WORDS]
)
def test_each_providers_word_is_normalised_and_kept(
    provider: str, shape: Callable[..., dict[str, Any]], word: str, status: str
) -> None:
    snapshot = call(a_connection(provider), answering(200, shape(word)))

    assert snapshot.status == status
    assert snapshot.provider_status == word
    assert snapshot.word == word


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("openai", openai_batch("paused_for_audit")),
        ("together", together_batch("ARCHIVED")),
        ("mistral", mistral_job("SOMETHING_NEW")),
        ("anthropic", anthropic_batch("archiving")),
        ("portkey", openai_batch("JOB_STATE_UNSPECIFIED")),
    ],
)
def test_an_unknown_word_is_status_unknown_not_an_error(provider: str, body: Any) -> None:
    snapshot = call(a_connection(provider), answering(200, body))

    assert snapshot.status == "unknown"
    assert snapshot.provider_status == (body.get("status") or body.get("processing_status"))
    assert not snapshot.is_terminal


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"cancel_initiated_at": "2024-08-20T18:38:00Z"}, "cancelled"),
        ({"request_counts": {"succeeded": 5, "canceled": 2}}, "cancelled"),
        ({"request_counts": {"succeeded": 5, "canceled": 1, "expired": 4}}, "cancelled"),
        ({"request_counts": {"succeeded": 5, "errored": 1, "expired": 4}}, "expired"),
        ({"request_counts": {"succeeded": 0, "errored": 10}}, "failed"),
        ({"request_counts": {"succeeded": 9, "errored": 1}}, "completed"),
        ({"request_counts": {"succeeded": 10}}, "completed"),
        ({"request_counts": {"succeeded": 0, "errored": 0}}, "completed"),
        ({"request_counts": None}, "completed"),
    ],
)
def test_anthropic_ended_outcome_comes_from_the_request_counts(
    fields: dict[str, Any], status: str
) -> None:
    snapshot = call(a_connection("anthropic"), answering(200, anthropic_batch("ended", **fields)))

    assert snapshot.status == status
    assert snapshot.provider_status == "ended"
    assert snapshot.is_terminal


def test_anthropic_batch_becomes_an_openai_shaped_snapshot() -> None:
    counts = {"processing": 0, "succeeded": 7, "errored": 1, "canceled": 0, "expired": 2}
    body = anthropic_batch("ended", request_counts=counts, cancel_initiated_at=None)

    snapshot = call(a_connection("anthropic"), answering(200, body))

    assert snapshot.output_file_id == body["results_url"]
    assert snapshot.error_file_id is None
    assert snapshot.request_counts == {"total": 10, "completed": 7, "failed": 3}
    assert snapshot.created_at == 1724179044.100435
    assert snapshot.expires_at == 1724179044.100435 + 86400
    assert snapshot.raw == body


def test_anthropic_version_header_can_be_overridden_but_not_the_key() -> None:
    seen: list[httpx.Request] = []
    headers = {"anthropic-version": "2024-01-01", "anthropic-beta": "x", "x-api-key": "other"}

    call(a_connection("anthropic", headers=headers), recording(seen, body=anthropic_batch("ended")))

    assert seen[0].headers["anthropic-version"] == "2024-01-01"
    assert seen[0].headers["anthropic-beta"] == "x"
    assert seen[0].headers.get_list("x-api-key") == ["sk-test-key"]


def test_mistral_job_becomes_an_openai_shaped_snapshot() -> None:
    snapshot = call(a_connection("mistral"), answering(200, mistral_job("SUCCESS")))

    assert snapshot.output_file_id == "file-out"
    assert snapshot.error_file_id == "file-err"
    assert snapshot.request_counts == {"total": 10, "completed": 8, "failed": 1}
    assert snapshot.created_at == 1711471533.0
    assert snapshot.expires_at is None


def test_together_times_are_rfc3339_and_its_deadline_is_the_expiry() -> None:
    snapshot = call(a_connection("together"), answering(200, together_batch("COMPLETED")))

    assert snapshot.created_at == 1711471533.0
    assert snapshot.expires_at == 1711471533.0 + 86400
    assert snapshot.request_counts is None
    assert snapshot.output_file_id == "file-out"


def test_portkey_bedrock_times_in_milliseconds_become_seconds() -> None:
    body = {
        "id": "batch_abc",
        "object": "batch",
        "status": "partially_completed",
        "created_at": 1711471533000,
        "expires_at": 1711557933000,
        "output_file_id": "s3://bucket/out/",
    }

    snapshot = call(a_connection("portkey"), answering(200, body))

    assert snapshot.status == "completed"
    assert snapshot.created_at == 1711471533.0
    assert snapshot.expires_at == 1711557933.0
    assert snapshot.output_file_id == "s3://bucket/out/"


# --- error bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "status_code", "body", "message"),
    [
        (
            "anthropic",
            404,
            {"type": "error", "error": {"type": "not_found_error", "message": "No such batch"}},
            "No such batch",
        ),
        ("anthropic", 404, {"type": "error", "error": {"type": "not_found_error"}}, "not_found"),
        (
            "azure",
            401,
            {"statusCode": 401, "message": "Access denied due to invalid key"},
            "denied",
        ),
        ("azure", 404, {"error": {"code": "NotFound", "message": "Batch not found"}}, "not found"),
        ("mistral", 401, {"message": "Unauthorized", "request_id": "r1"}, "Unauthorized"),
        ("mistral", 404, {"object": "error", "message": "Job not found"}, "Job not found"),
        ("mistral", 422, {"detail": [{"loc": ["path"], "msg": "bad id"}]}, "bad id"),
        ("respan", 401, {"error": "Authentication credentials were not provided."}, "credentials"),
        ("litellm", 400, {"error": {"message": "Invalid model", "type": "x"}}, "Invalid model"),
        ("groq", 403, {"error": {"message": "Forbidden org", "type": "x"}}, "Forbidden org"),
        ("together", 404, "batch not found", "batch not found"),
    ],
)
def test_error_bodies_give_the_providers_message(
    provider: str, status_code: int, body: Any, message: str
) -> None:
    with pytest.raises(ProviderRejected, match=message) as caught:
        call(a_connection(provider), answering(status_code, body))
    assert caught.value.status_code == status_code


@pytest.mark.parametrize("status_code", [429, 500, 503, 529])
def test_anthropic_overload_and_rate_limits_are_retryable(status_code: int) -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}

    with pytest.raises(ProviderUnavailable, match="Overloaded") as caught:
        call(
            a_connection("anthropic"),
            answering(status_code, body, headers={"retry-after-ms": "250"}),
        )
    assert caught.value.retry_after_s == 0.25


# --- tracking params and connection options ---------------------------------------------------


@pytest.mark.parametrize("provider", ["keywordsai", "respan"])
def test_tracking_params_can_travel_as_base64_json(provider: str) -> None:
    seen: list[httpx.Request] = []
    params = {"customer_identifier": "acmé", "metadata": {"run": 7}}

    call(a_connection(provider, params={**params, "params_encoding": "base64"}), recording(seen))

    header = seen[0].headers[f"x-data-{provider}-params"]
    assert json.loads(base64.b64decode(header, validate=True)) == params


def test_the_encoding_choice_itself_is_never_sent() -> None:
    seen: list[httpx.Request] = []

    call(
        a_connection("respan", params={"customer_identifier": "a", "params_encoding": "json"}),
        recording(seen),
    )
    call(a_connection("respan", params={"params_encoding": "base64"}), recording(seen))

    assert json.loads(seen[0].headers["x-data-respan-params"]) == {"customer_identifier": "a"}
    assert "x-data-respan-params" not in seen[1].headers


def connection_in(**fields: Any) -> ConnectionIn:
    return ConnectionIn.model_validate({"api_key": "k", **fields})


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"provider": "nope"}, "unknown provider 'nope'; known: anthropic, azure"),
        ({"provider": "azure"}, "azure needs base_url"),
        ({"provider": "azure", "base_url": AZURE_ENDPOINT, "params": {"x": 1}}, "only 'api_v"),
        ({"provider": "azure", "base_url": AZURE_ENDPOINT, "params": {"api_version": 7}}, "api_v"),
        ({"provider": "respan", "params_encoding": "hex"}, "params_encoding"),
        ({"provider": "respan", "params": {"params_encoding": "hex"}}, "params_encoding"),
        ({"provider": "openai", "params_encoding": "base64"}, "does not apply to openai"),
        ({"provider": "anthropic", "params_encoding": "json"}, "does not apply to anthropic"),
        ({"provider": "azure", "base_url": AZURE_ENDPOINT, "params_encoding": "json"}, "apply"),
    ],
)
def test_connection_options_a_provider_cannot_use_are_refused(
    fields: dict[str, Any], error: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match=error):
        connection_in(**fields)


def test_params_encoding_is_kept_inside_params() -> None:
    body = connection_in(
        provider="respan", params={"customer_identifier": "a"}, params_encoding="base64"
    )

    assert body.params == {"customer_identifier": "a", "params_encoding": "base64"}


def test_azure_connection_takes_its_endpoint_and_api_version() -> None:
    body = connection_in(
        provider="azure", base_url=AZURE_ENDPOINT, params={"api_version": "2025-04-01-preview"}
    )

    assert body.base_url == AZURE_ENDPOINT
    assert body.params == {"api_version": "2025-04-01-preview"}
