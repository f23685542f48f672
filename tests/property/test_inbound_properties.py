"""POST /v1/inbound/{connection_id} with random bodies, signed and not, against the stack.

The operation reads its body raw, so schemathesis only ever sends it an empty one; here
hypothesis sends JSON of any shape, correctly signed with the connection's webhook secret
or signed wrongly, to a plain connection and to a ``watch_all`` one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.e2e.flows import connect
from tests.e2e.stack import Stack
from tests.property._support import PROPERTY_SETTINGS, error_body_problem
from tests.support.provider_stub import ProviderStub
from worker import signing
from worker.api.schemas import BatchIn

pytestmark = pytest.mark.property

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
EVENTS = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["batch.completed", "batch.failed", "batch.cancelled", "x"]),
        "data": st.fixed_dictionaries({"id": JSON}),
    }
)
SIGNINGS = st.sampled_from(["valid", "valid", "wrong_secret", "stale", "missing", "garbage"])


@dataclass
class Inbound:
    stack: Stack
    api: httpx.Client
    plain: str
    watch_all: str


@pytest.fixture(scope="module")
def inbound(property_stack: Stack) -> Iterator[Inbound]:
    with (
        ProviderStub("openai", api_key="sk-inbound") as stub,
        property_stack.client(property_stack.new_token("inbound")) as api,
    ):
        plain = connect(api, stub, webhook_secret=SECRET)["id"]
        every = connect(api, stub, webhook_secret=SECRET, watch_all=True)["id"]
        yield Inbound(property_stack, api, plain, every)


def signed_headers(how: str, body: bytes) -> dict[str, str]:
    now = int(time.time())
    if how == "valid":
        return signing.webhook_headers([SECRET], "evt_in", now, body)
    if how == "wrong_secret":
        return signing.webhook_headers([signing.new_secret()], "evt_in", now, body)
    if how == "stale":
        return signing.webhook_headers([SECRET], "evt_in", now - 3600, body)
    if how == "missing":
        return {"content-type": "application/json"}
    return {"webhook-id": "evt_in", "webhook-timestamp": "soon", "webhook-signature": "v1,@@@"}


def post(t: Inbound, connection_id: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{t.stack.api_url}/v1/inbound/{quote(connection_id, safe='')}",
        content=body,
        headers=headers,
        timeout=10,
    )


def is_valid_batch_id(value: Any) -> bool:
    """The rule POST /v1/batches applies to a batch id."""
    try:
        BatchIn.model_validate({"batch_id": value, "connection_id": "conn_x"})
    except ValidationError:
        return False
    return True


@given(
    payload=st.one_of(EVENTS, JSON),
    how=SIGNINGS,
    target=st.sampled_from(["plain", "watch_all", "unknown"]),
)
@settings(PROPERTY_SETTINGS, max_examples=60)
def test_any_inbound_body_answers_2xx_or_a_4xx_error_never_5xx(
    inbound: Inbound, payload: Any, how: str, target: str
) -> None:
    connection_id = {"plain": inbound.plain, "watch_all": inbound.watch_all}.get(
        target, "conn_nope"
    )
    body = json.dumps(payload).encode()
    response = post(inbound, connection_id, body, signed_headers(how, body))

    shown = f"{target} {how} {body[:300]!r} -> {response.status_code} {response.text[:300]}"
    assert response.status_code < 500, shown
    if response.status_code >= 400:
        assert error_body_problem(response.status_code, response.json()) is None, shown
    if target == "unknown":
        assert response.status_code == 404, shown
    elif how != "valid":
        assert response.status_code == 401, shown
    elif isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        valid = "id" in payload["data"] and is_valid_batch_id(payload["data"]["id"])
        assert response.status_code == (200 if valid else 422), shown
    # Whatever came in, the tenant's batches still list and open.
    listing = inbound.api.get("/v1/batches")
    assert listing.status_code == 200, listing.text


INVALID_BATCH_IDS: list[Any] = [None, 5, {"a": 1}, "", "../x", "a b?c", "x" * 300]


def test_inbound_events_never_register_a_batch_id_the_api_would_refuse(
    property_stack: Stack,
) -> None:
    """A fresh tenant, so nothing earlier registered (or deleted, which is remembered)."""
    with (
        ProviderStub("openai", api_key="sk-inbound-ids") as stub,
        property_stack.client(property_stack.new_token("inbound-ids")) as api,
    ):
        conn = connect(api, stub, webhook_secret=SECRET, watch_all=True)["id"]
        t = Inbound(property_stack, api, conn, conn)
        answers = {}
        for data_id in INVALID_BATCH_IDS:
            body = json.dumps({"type": "batch.completed", "data": {"id": data_id}}).encode()
            response = post(t, conn, body, signed_headers("valid", body))
            assert response.status_code < 500, response.text
            answers[repr(data_id)[:20]] = response.status_code
        watched = [b["batch_id"] for b in api.get("/v1/batches").json()["data"]]

    invalid = [b[:20] for b in watched if not is_valid_batch_id(b)]
    assert invalid == [], f"answers {answers}; registered {invalid}"
    assert set(answers.values()) == {422}, answers


@given(
    which=st.sampled_from(["signature", "timestamp"]),
    junk=st.binary(min_size=1, max_size=8).map(lambda b: bytes(c | 0x80 for c in b)),
    digits=st.integers(min_value=309, max_value=1000),
)
@settings(PROPERTY_SETTINGS, max_examples=10, report_multiple_bugs=False)
def test_malformed_signature_headers_answer_401_not_500(
    inbound: Inbound, which: str, junk: bytes, digits: int
) -> None:
    body = b'{"type": "batch.completed", "data": {"id": "batch_1"}}'
    headers = {
        b"webhook-id": b"evt_in",
        b"webhook-timestamp": str(int(time.time())).encode(),
        b"webhook-signature": b"v1," + junk,
    }
    if which == "timestamp":
        headers[b"webhook-timestamp"] = b"1" * digits
        headers[b"webhook-signature"] = b"v1,AAAA"
    response = httpx.post(
        f"{inbound.stack.api_url}/v1/inbound/{inbound.plain}",
        content=body,
        headers=headers,
        timeout=10,
    )

    shown = f"{which}: {headers} -> {response.status_code} {response.text[:200]}"
    assert response.status_code == 401, shown
    assert error_body_problem(401, response.json()) is None, shown
