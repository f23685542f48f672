"""Every provider beyond OpenAI's own API, through the whole stack to one verified webhook.

Each case scripts a batch in the provider's own words at a stand-in that checks the URL,
the key's header and the query the real provider needs; the webhook carries the
provider's word as ``data.status`` and the normalised one as ``data.normalized_status``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.e2e.flows import connect, events_of, new_batch_id, subscribe, watch
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver

TRACKING = {"customer_identifier": "user123", "metadata": {"team": "ml"}}
ANTHROPIC_ALL_ERRORED = {
    "processing": 0,
    "succeeded": 0,
    "errored": 10,
    "canceled": 0,
    "expired": 0,
}


@dataclass(frozen=True)
class Case:
    provider: str
    words: list[str]  # the provider's own, the last one terminal
    normalized: str
    stub: dict[str, Any] = field(default_factory=dict)  # for the stand-in only
    setup: dict[str, Any] = field(default_factory=dict)  # for the stand-in and the connection
    fields: dict[str, Any] = field(default_factory=dict)  # overriding the batch object
    counts: bool = True  # whether the provider reports request counts
    output: bool = True  # whether the batch ends with an output
    batch_id: str = ""  # the provider's own id shape, when not batch_...


CASES = {
    "azure": Case("azure", ["validating", "in_progress", "finalizing", "completed"], "completed"),
    "azure-api-version": Case(
        "azure",
        ["in_progress", "failed"],
        "failed",
        setup={"params": {"api_version": "2025-04-01-preview"}},
        output=False,
    ),
    "azure-v1": Case("azure", ["in_progress", "completed"], "completed", stub={"mode": "v1"}),
    "anthropic": Case("anthropic", ["in_progress", "ended"], "completed"),
    "anthropic-all-errored": Case(
        "anthropic",
        ["in_progress", "ended"],
        "failed",
        fields={"request_counts": ANTHROPIC_ALL_ERRORED},
    ),
    "mistral": Case("mistral", ["QUEUED", "RUNNING", "SUCCESS"], "completed"),
    "together": Case(
        "together", ["VALIDATING", "IN_PROGRESS", "COMPLETED"], "completed", counts=False
    ),
    "groq": Case("groq", ["validating", "in_progress", "completed"], "completed"),
    "litellm": Case(
        "litellm",
        ["in_progress", "complete"],
        "completed",
        setup={"headers": {"custom-llm-provider": "azure"}},
    ),
    "respan-base64": Case(
        "respan",
        ["in_progress", "completed"],
        "completed",
        setup={"params": TRACKING, "params_encoding": "base64"},
    ),
    "portkey-bedrock": Case(
        "portkey",
        ["submitted", "in_progress", "partially_completed"],
        "completed",
        stub={"mode": "bedrock"},
        setup={"headers": {"x-portkey-provider": "bedrock"}},
        counts=False,
        batch_id="arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_provider_ends_in_one_verified_webhook_with_both_words(
    api: httpx.Client, receiver: Receiver, name: str
) -> None:
    case = CASES[name]
    with ProviderStub(case.provider, api_key=f"sk-{name}", **case.stub, **case.setup) as stub:
        conn = connect(api, stub, **case.setup)
        subscribe(api, receiver)
        batch_id = case.batch_id + new_batch_id()
        stub.script(batch_id, case.words, **case.fields)
        watch(api, batch_id, conn["id"])

        [hook] = receiver.wait_for(1)
        assert api.get(f"/v1/batches/{batch_id}").json()["batch_id"] == batch_id
        assert hook.verified, hook.verify_error
        assert hook.json["type"] == f"batch.{case.normalized}"
        data = hook.json["data"]
        assert data["status"] == case.words[-1]
        assert data["normalized_status"] == case.normalized
        assert data["previous_status"] == case.words[-2]
        assert data["output_file_id"] == (stub.output_file_id(batch_id) if case.output else None)
        assert (data["request_counts"] or {}).get("total") == (10 if case.counts else None)
        assert data["provider"] == case.provider
        assert data["batch"]["id"] == batch_id
        assert stub.mismatches == []
        assert stub.requests_for(batch_id), "the provider stand-in was never called"


@pytest.mark.parametrize(
    ("provider", "code", "headers"),
    [("anthropic", 529, {"retry-after": "1"}), ("mistral", 429, {"retry-after-ms": "300"})],
)
def test_provider_overload_and_rate_limits_are_retried_in_their_own_error_shape(
    api: httpx.Client, receiver: Receiver, provider: str, code: int, headers: dict[str, str]
) -> None:
    with ProviderStub(provider, api_key=f"sk-{provider}-{code}") as stub:
        conn = connect(api, stub)
        subscribe(api, receiver)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "ended" if provider == "anthropic" else "SUCCESS")
        stub.fail_next(batch_id, code, headers=headers)
        watch(api, batch_id, conn["id"])

        [hook] = receiver.wait_for(1)
        assert hook.json["type"] == "batch.completed"
        assert len(stub.requests_for(batch_id)) >= 2
        assert [e["type"] for e in events_of(api, batch_id)] == ["batch.completed"]
        assert stub.mismatches == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"provider": "azure", "api_key": "k"}, "azure needs base_url"),
        ({"provider": "bedrock", "api_key": "k"}, "unknown provider 'bedrock'"),
        ({"provider": "openai", "api_key": "k", "params_encoding": "base64"}, "does not apply"),
        ({"provider": "respan", "api_key": "k", "params_encoding": "hex"}, "params_encoding"),
    ],
)
def test_connections_a_provider_cannot_use_are_refused_with_a_reason(
    api: httpx.Client, body: dict[str, Any], message: str
) -> None:
    response = api.post("/v1/connections", json=body)

    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]
