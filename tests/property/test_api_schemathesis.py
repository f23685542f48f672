"""Every operation of the served OpenAPI document, fuzzed by schemathesis against the real stack.

No answer is a 5xx; answers conform to the document where it describes them; every error
answer has the contract's body ``{"error": {"type": str, "message": str}}``. Half the cases
name the calling tenant's real objects instead of generated ids, so the fuzzing reaches
past the 404s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.e2e.flows import new_batch_id
from tests.e2e.stack import Stack
from tests.property._support import PROPERTY_SETTINGS, error_body_problem
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver

pytestmark = pytest.mark.property

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MAX_EXAMPLES = 40  # per operation and mode
# Where the served document is known to be wrong (a strict xfail should document each).
KNOWN_MISMATCHES: dict[str, Any] = {}
ID_PARAMETERS = ("connection_id", "endpoint_id", "batch_id", "event_id")


class RealObjects:
    """One tenant's connection, endpoint, watched batch and event, re-made when deleted."""

    def __init__(self, api: httpx.Client, stub: ProviderStub, sink: Receiver) -> None:
        self.api, self.stub, self.sink = api, stub, sink
        self.ids: dict[str, str] = {}

    def ensure(self) -> dict[str, str]:
        ids = self.ids
        ids["base_url"] = self.stub.base_url
        if "connection_id" not in ids or self._missing(f"/v1/connections/{ids['connection_id']}"):
            ids["connection_id"] = self._create(
                "/v1/connections",
                {
                    "provider": "openai",
                    "api_key": self.stub.api_key,
                    "base_url": self.stub.base_url,
                    "webhook_secret": WEBHOOK_SECRET,
                },
            )["id"]
            ids.pop("batch_id", None)
        if "endpoint_id" not in ids or self._missing(f"/v1/endpoints/{ids['endpoint_id']}"):
            ids["endpoint_id"] = self._create(
                "/v1/endpoints", {"url": self.sink.url, "secret": WEBHOOK_SECRET}
            )["id"]
        if "batch_id" not in ids or self._missing(f"/v1/batches/{ids['batch_id']}"):
            batch_id = new_batch_id()
            self.stub.set_batch(batch_id, "in_progress")
            ids["batch_id"] = self._create(
                "/v1/batches",
                {"batch_id": batch_id, "connection_id": ids["connection_id"], "poll_interval": 60},
            )["batch_id"]
        if "event_id" not in ids:
            ids["event_id"] = self._create(f"/v1/endpoints/{ids['endpoint_id']}/test", None)["id"]
        return dict(ids)

    def _missing(self, path: str) -> bool:
        return self.api.get(path).status_code == 404

    def _create(self, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        response = self.api.post(path, json=body)
        assert response.status_code in (200, 201, 202), response.text
        return dict(response.json())


@pytest.fixture(scope="module")
def fuzz_token(property_stack: Stack) -> str:
    return property_stack.new_token("fuzz")


@pytest.fixture(scope="module")
def real_objects(property_stack: Stack, fuzz_token: str, sink: Receiver) -> Iterator[RealObjects]:
    sink.secret = WEBHOOK_SECRET
    with (
        ProviderStub("openai", api_key="sk-fuzz") as stub,
        property_stack.client(fuzz_token) as api,
    ):
        yield RealObjects(api, stub, sink)


@pytest.fixture(scope="module")
def api_schema(property_stack: Stack) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{property_stack.api_url}/openapi.json", timeout=10)


def use_real_ids(case: schemathesis.Case[Any], ids: dict[str, str], sink_url: str) -> None:
    """Name the tenant's real objects, and make the fields the document leaves loose valid
    (the provider enum, an http(s) URL), so the case reaches past the 404s and 422s."""
    for name in ID_PARAMETERS:
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = ids[name]
        if isinstance(case.body, dict) and isinstance(case.body.get(name), str):
            case.body[name] = ids[name]
    if not isinstance(case.body, dict):
        return
    if isinstance(case.body.get("endpoint_ids"), list):
        case.body["endpoint_ids"] = [ids["endpoint_id"]]
    if "provider" in case.body:
        case.body["provider"] = "openai"
        case.body["base_url"] = ids["base_url"]
        case.body.pop("params", None)
    if isinstance(case.body.get("url"), str):
        case.body["url"] = sink_url
    for name in ("secret", "webhook_secret"):
        if isinstance(case.body.get(name), str):
            case.body[name] = WEBHOOK_SECRET


def describe(case: schemathesis.Case[Any]) -> str:
    return (
        f"{case.method} {case.formatted_path} query={case.query!r} "
        f"body={case.body if not isinstance(case.body, bytes) else case.body[:200]!r}"
    )


def run_operation(
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    *,
    stack: Stack,
    token: str,
    objects: RealObjects,
    statuses: Counter[int],
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    checks = [c for c in CHECKS if c is not KNOWN_MISMATCHES.get(operation.label)]

    @given(case=operation.as_strategy(generation_mode=mode), real=st.booleans())
    @settings(PROPERTY_SETTINGS, max_examples=MAX_EXAMPLES)
    def check(case: schemathesis.Case[Any], real: bool) -> None:
        if real:
            use_real_ids(case, objects.ensure(), objects.sink.url)
        response = case.call(base_url=stack.api_url, headers=headers, timeout=10)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=checks, headers=headers)
        if response.status_code >= 400:
            problem = error_body_problem(response.status_code, response.json())
            assert problem is None, f"{describe(case)}: {problem}"

    check()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_answers_5xx_and_errors_have_the_contract_body(
    mode: GenerationMode,
    api_schema: schemathesis.BaseSchema,
    property_stack: Stack,
    fuzz_token: str,
    real_objects: RealObjects,
) -> None:
    failures: dict[str, str] = {}
    seen: dict[str, Counter[int]] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err raises, as it should
        seen[operation.label] = Counter()
        try:
            run_operation(
                operation,
                mode,
                stack=property_stack,
                token=fuzz_token,
                objects=real_objects,
                statuses=seen[operation.label],
            )
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid input at all"
        except (Exception, BaseExceptionGroup) as failure:  # report every operation's failure
            failures[operation.label] = f"{type(failure).__name__}: {failure}"
    for label, statuses in seen.items():
        print(f"{mode.value:8} {label:48} {dict(sorted(statuses.items()))}")

    assert len(seen) >= 19, sorted(seen)
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    if mode is GenerationMode.POSITIVE:  # the real ids took the fuzzing past the 404s
        reached = [label for label, statuses in seen.items() if any(s < 300 for s in statuses)]
        assert len(reached) >= 0.75 * len(seen), sorted(set(seen) - set(reached))


def test_metrics_answer_has_the_documented_content_type(
    api_schema: schemathesis.BaseSchema, property_stack: Stack
) -> None:
    operation = api_schema.find_operation_by_label("GET /metrics")
    assert operation is not None
    case = operation.Case()
    response = case.call(base_url=property_stack.api_url, timeout=10)
    case.validate_response(response, checks=[content_type_conformance])
