"""The request each provider adapter builds for a batch's output and error files."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_providers import (
    ANTHROPIC_AUTH,
    AZURE_AUTH,
    AZURE_ENDPOINT,
    BEARER,
    a_connection,
)
from worker.providers import REGISTRY, ResultKind, get_provider

OPENAI_SHAPED = {"id": "batch_abc", "output_file_id": "file-out", "error_file_id": "file-err"}
MISTRAL_JOB = {"id": "job_abc", "output_file": "file-out", "error_file": "file-err"}
ANTHROPIC_ENDED = {
    "id": "msgbatch_abc",
    "processing_status": "ended",
    "results_url": "https://api.anthropic.com/v1/messages/batches/msgbatch_abc/results",
}

RESULT_URLS: list[tuple[str, dict[str, Any], ResultKind, str, dict[str, str]]] = [
    ("openai", OPENAI_SHAPED, "output", "https://api.openai.com/v1/files/file-out/content", BEARER),
    ("openai", OPENAI_SHAPED, "errors", "https://api.openai.com/v1/files/file-err/content", BEARER),
    (
        "openai_compatible",
        OPENAI_SHAPED,
        "output",
        "https://api.openai.com/v1/files/file-out/content",
        BEARER,
    ),
    (
        "keywordsai",
        OPENAI_SHAPED,
        "output",
        "https://api.keywordsai.co/api/v1/files/file-out/content/",
        BEARER,
    ),
    (
        "respan",
        OPENAI_SHAPED,
        "errors",
        "https://api.respan.ai/api/v1/files/file-err/content/",
        BEARER,
    ),
    (
        "portkey",
        OPENAI_SHAPED,
        "output",
        "https://api.portkey.ai/v1/batches/batch_abc/output",
        BEARER,
    ),
    (
        "portkey",
        OPENAI_SHAPED,
        "errors",
        "https://api.portkey.ai/v1/files/file-err/content",
        BEARER,
    ),
    (
        "together",
        OPENAI_SHAPED,
        "output",
        "https://api.together.xyz/v1/files/file-out/content",
        BEARER,
    ),
    (
        "groq",
        OPENAI_SHAPED,
        "errors",
        "https://api.groq.com/openai/v1/files/file-err/content",
        BEARER,
    ),
    ("litellm", OPENAI_SHAPED, "output", "http://localhost:4000/v1/files/file-out/content", BEARER),
    (
        "azure",
        OPENAI_SHAPED,
        "output",
        f"{AZURE_ENDPOINT}/openai/files/file-out/content?api-version=2024-10-21",
        AZURE_AUTH,
    ),
    (
        "azure",
        OPENAI_SHAPED,
        "errors",
        f"{AZURE_ENDPOINT}/openai/files/file-err/content?api-version=2024-10-21",
        AZURE_AUTH,
    ),
    ("mistral", MISTRAL_JOB, "output", "https://api.mistral.ai/v1/files/file-out/content", BEARER),
    ("mistral", MISTRAL_JOB, "errors", "https://api.mistral.ai/v1/files/file-err/content", BEARER),
    ("anthropic", ANTHROPIC_ENDED, "output", ANTHROPIC_ENDED["results_url"], ANTHROPIC_AUTH),
]


@pytest.mark.parametrize(("provider", "batch", "kind", "url", "auth"), RESULT_URLS)
def test_a_result_file_is_asked_for_at_the_providers_file_path_with_the_retrieve_key(
    provider: str, batch: dict[str, Any], kind: ResultKind, url: str, auth: dict[str, str]
) -> None:
    conn = a_connection(provider)

    request = get_provider(provider).result_request(conn, batch, kind)

    assert request is not None
    assert request.url == url
    assert {name: request.headers.get(name) for name in auth} == auth
    other_auth = {"authorization", "x-api-key", "api-key"} - set(auth)
    assert not other_auth & set(request.headers), "the key travels in one header only"


@pytest.mark.parametrize("provider", sorted(REGISTRY))
@pytest.mark.parametrize("kind", ["output", "errors"])
def test_a_batch_without_the_file_has_no_request_for_it(provider: str, kind: ResultKind) -> None:
    running = {
        "id": "batch_abc",
        "status": "in_progress",
        "output_file_id": None,
        "results_url": None,
    }

    assert get_provider(provider).result_request(a_connection(provider), running, kind) is None


def test_anthropic_has_one_results_file_and_no_error_file() -> None:
    conn = a_connection("anthropic")

    assert get_provider("anthropic").result_request(conn, ANTHROPIC_ENDED, "errors") is None


def test_anthropic_results_elsewhere_than_the_connections_origin_are_asked_of_its_base() -> None:
    conn = a_connection("anthropic", base_url="https://llm-proxy.example/anthropic/v1")

    request = get_provider("anthropic").result_request(conn, ANTHROPIC_ENDED, "output")

    assert request is not None
    assert request.url == (
        "https://llm-proxy.example/anthropic/v1/messages/batches/msgbatch_abc/results"
    )


def test_azure_v1_and_a_named_api_version_carry_over_to_the_file_path() -> None:
    v1 = a_connection("azure", base_url=f"{AZURE_ENDPOINT}/openai/v1")
    dated = a_connection("azure", params={"api_version": "2025-04-01-preview"})
    azure = get_provider("azure")

    v1_request = azure.result_request(v1, OPENAI_SHAPED, "output")
    dated_request = azure.result_request(dated, OPENAI_SHAPED, "errors")

    assert v1_request is not None and dated_request is not None
    assert v1_request.url == f"{AZURE_ENDPOINT}/openai/v1/files/file-out/content"
    assert dated_request.url == (
        f"{AZURE_ENDPOINT}/openai/files/file-err/content?api-version=2025-04-01-preview"
    )


def test_file_requests_carry_the_connections_headers_and_tracking_params() -> None:
    portkey = a_connection("portkey", headers={"x-portkey-provider": "openai"})
    keywords = a_connection("keywordsai", params={"customer_identifier": "u1"})

    portkey_request = get_provider("portkey").result_request(portkey, OPENAI_SHAPED, "output")
    keywords_request = get_provider("keywordsai").result_request(keywords, OPENAI_SHAPED, "errors")

    assert portkey_request is not None and keywords_request is not None
    assert portkey_request.headers["x-portkey-provider"] == "openai"
    assert keywords_request.headers["X-Data-Keywordsai-Params"] == '{"customer_identifier":"u1"}'


def test_file_ids_are_escaped_into_one_path_segment() -> None:
    batch = {**OPENAI_SHAPED, "output_file_id": "file/../../admin?x=1"}

    request = get_provider("openai").result_request(a_connection("openai"), batch, "output")

    assert request is not None
    assert request.url == "https://api.openai.com/v1/files/file%2F..%2F..%2Fadmin%3Fx%3D1/content"
