"""Tenant B, holding a valid token of its own, attacks every object of tenant A by id.

A owns a connection (with an inbound webhook secret), an endpoint, a watched batch that
finished (so it has a terminal event, delivered) and a ``webhook.test`` event. B tries
every read and write on A's ids, by path, in bodies and as list filters, in random
sequences and with random bodies. Every answer must be a 4xx with the contract's error
body (or, for a list, a 2xx that names none of A's ids), and A's view of its own objects
must be identical before and after.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.e2e.flows import connect, new_batch_id, wait_for_delivery_state, watch
from tests.e2e.stack import Stack
from tests.property._support import PROPERTY_SETTINGS, error_body_problem
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from worker import signing

pytestmark = pytest.mark.property

A_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
B_SECRET = signing.new_secret()
EVENT_TYPES = [
    "batch.completed",
    "batch.failed",
    "batch.expired",
    "batch.cancelled",
    "batch.in_progress",
    "batch.watch_failed",
    "webhook.test",
]


@dataclass
class Tenants:
    stack: Stack
    a: httpx.Client
    b: httpx.Client
    a_ids: dict[str, str]
    b_ids: dict[str, str]
    a_view: dict[str, Any]


def view_of(api: httpx.Client, ids: dict[str, str]) -> dict[str, Any]:
    """Everything a tenant sees of its objects, minus what moves on its own."""
    paths = [
        "/v1/connections",
        "/v1/endpoints",
        "/v1/batches",
        "/v1/events",
        f"/v1/connections/{ids['connection_id']}",
        f"/v1/endpoints/{ids['endpoint_id']}",
        f"/v1/batches/{ids['batch_id']}",
        f"/v1/events/{ids['event_id']}",
        f"/v1/events/{ids['test_event_id']}",
    ]
    seen = {}
    for path in paths:
        response = api.get(path)
        assert response.status_code == 200, (path, response.text)
        seen[path] = response.json()
    return seen


def settled(api: httpx.Client, ids: dict[str, str]) -> dict[str, Any]:
    """A's view once nothing is in flight: two equal reads in a row."""
    first = view_of(api, ids)
    for _ in range(50):
        time.sleep(0.1)
        second = view_of(api, ids)
        if second == first:
            return second
        first = second
    raise AssertionError("tenant A's objects never settled")


def make_objects(
    api: httpx.Client, stub: ProviderStub, sink: Receiver, secret: str
) -> dict[str, str]:
    conn = connect(api, stub, webhook_secret=secret)
    endpoint = api.post(
        "/v1/endpoints", json={"url": sink.url, "secret": secret, "events": EVENT_TYPES}
    )
    assert endpoint.status_code == 201, endpoint.text
    batch_id = new_batch_id()
    stub.set_batch(batch_id, "completed")
    watch(api, batch_id, conn["id"])
    events = wait_until_events(api, batch_id)
    test_event = api.post(f"/v1/endpoints/{endpoint.json()['id']}/test")
    assert test_event.status_code == 202, test_event.text
    ids = {
        "connection_id": conn["id"],
        "endpoint_id": endpoint.json()["id"],
        "batch_id": batch_id,
        "event_id": events[0]["id"],
        "test_event_id": test_event.json()["id"],
    }
    wait_for_delivery_state(api, ids["event_id"], "succeeded")
    wait_for_delivery_state(api, ids["test_event_id"], "succeeded")
    return ids


def wait_until_events(api: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    for _ in range(200):
        data = api.get("/v1/events", params={"batch_id": batch_id}).json()["data"]
        if data:
            return list(data)
        time.sleep(0.05)
    raise AssertionError(f"no event for {batch_id}")


@pytest.fixture(scope="module")
def tenants(property_stack: Stack, sink: Receiver) -> Iterator[Tenants]:
    sink.secret = A_SECRET  # the sink only answers 200; verification is not this file's job
    with (
        ProviderStub("openai", api_key="sk-tenant-a") as stub_a,
        ProviderStub("openai", api_key="sk-tenant-b") as stub_b,
        property_stack.client(property_stack.new_token("tenant-a")) as a,
        property_stack.client(property_stack.new_token("tenant-b")) as b,
    ):
        a_ids = make_objects(a, stub_a, sink, A_SECRET)
        b_ids = make_objects(b, stub_b, sink, B_SECRET)
        yield Tenants(property_stack, a, b, a_ids, b_ids, settled(a, a_ids))


# --- the attacks: (method, path, json body, query) built from A's and B's ids ------------

Call = tuple[str, str, Any, dict[str, str]]

PATCHES = st.fixed_dictionaries(
    {},
    optional={
        "url": st.sampled_from(["http://127.0.0.1:9/stolen", "https://example.com/x"]),
        "events": st.lists(st.sampled_from(EVENT_TYPES), min_size=1, max_size=3),
        "description": st.text(max_size=20),
        "disabled": st.booleans(),
    },
)


def by_id(a: dict[str, str], b: dict[str, str]) -> list[Call]:
    """Every call on A's objects that B may try; none may touch them."""
    conn, ep, batch, evt, tevt = (
        a["connection_id"],
        a["endpoint_id"],
        a["batch_id"],
        a["event_id"],
        a["test_event_id"],
    )
    return [
        ("GET", f"/v1/connections/{conn}", None, {}),
        ("DELETE", f"/v1/connections/{conn}", None, {}),
        ("GET", f"/v1/endpoints/{ep}", None, {}),
        ("PATCH", f"/v1/endpoints/{ep}", {"disabled": True}, {}),
        ("PATCH", f"/v1/endpoints/{ep}", {"url": "http://127.0.0.1:9/stolen"}, {}),
        ("DELETE", f"/v1/endpoints/{ep}", None, {}),
        ("POST", f"/v1/endpoints/{ep}/rotate-secret", None, {}),
        ("POST", f"/v1/endpoints/{ep}/test", None, {}),
        ("GET", f"/v1/batches/{batch}", None, {}),
        ("DELETE", f"/v1/batches/{batch}", None, {}),
        ("GET", f"/v1/events/{evt}", None, {}),
        ("GET", f"/v1/events/{tevt}", None, {}),
        ("POST", f"/v1/events/{evt}/redeliver", None, {}),
        ("POST", f"/v1/events/{evt}/redeliver", {"endpoint_id": ep}, {}),
        ("POST", f"/v1/events/{evt}/redeliver", {"endpoint_id": b["endpoint_id"]}, {}),
        ("POST", f"/v1/events/{tevt}/redeliver", {}, {}),
        # B's own event sent to A's endpoint
        ("POST", f"/v1/events/{b['event_id']}/redeliver", {"endpoint_id": ep}, {}),
        # A's connection or endpoints in B's registrations
        ("POST", "/v1/batches", {"batch_id": new_batch_id(), "connection_id": conn}, {}),
        ("POST", "/v1/batches", {"batch_id": batch, "connection_id": conn}, {}),
        (
            "POST",
            "/v1/batches",
            {"batch_id": new_batch_id(), "connection_id": b["connection_id"], "endpoint_ids": [ep]},
            {},
        ),
        (
            "POST",
            "/v1/batches",
            {
                "batch_id": new_batch_id(),
                "connection_id": b["connection_id"],
                "endpoint_ids": [b["endpoint_id"], ep],
            },
            {},
        ),
        # variations on the ids: case, a trailing slash, a doubled prefix
        ("GET", f"/v1/endpoints/{ep.upper()}", None, {}),
        ("GET", f"/v1/connections/{conn}%20", None, {}),
        ("GET", f"/v1/batches/{batch}/", None, {}),
        ("GET", f"/v1/batches/x/../{batch}", None, {}),
        ("GET", f"/v1/events/{evt}/", None, {}),
    ]


def lists(a: dict[str, str]) -> list[Call]:
    """List calls filtered by A's ids: a 2xx may answer, but must name nothing of A's."""
    return [
        ("GET", "/v1/events", None, {"batch_id": a["batch_id"]}),
        ("GET", "/v1/events", None, {"batch_id": a["batch_id"], "type": "batch.completed"}),
        ("GET", "/v1/events", None, {"type": "webhook.test"}),
        ("GET", "/v1/events", None, {"batch_id": a["event_id"]}),
        ("GET", "/v1/connections", None, {"id": a["connection_id"]}),
        ("GET", "/v1/endpoints", None, {"id": a["endpoint_id"]}),
        ("GET", "/v1/batches", None, {"batch_id": a["batch_id"]}),
    ]


def send(t: Tenants, method: str, path: str, body: Any, query: dict[str, str]) -> httpx.Response:
    # A trailing slash earns a redirect to the path without it: follow it like a client would.
    kwargs: dict[str, Any] = {"params": query, "follow_redirects": True}
    if body is not None:
        kwargs["json"] = body
    return t.b.request(method, path, **kwargs)


def assert_refused(t: Tenants, call: Call) -> None:
    method, path, body, query = call
    response = send(t, method, path, body, query)
    shown = (
        f"B: {method} {path} {json.dumps(body)} {query} -> {response.status_code} {response.text}"
    )
    assert 400 <= response.status_code < 500, shown
    assert error_body_problem(response.status_code, response.json()) is None, shown


def assert_hides_a(t: Tenants, call: Call) -> None:
    method, path, body, query = call
    response = send(t, method, path, body, query)
    shown = f"B: {method} {path} {query} -> {response.status_code} {response.text}"
    assert response.status_code < 500, shown
    if response.status_code >= 400:
        assert error_body_problem(response.status_code, response.json()) is None, shown
        return
    for a_id in t.a_ids.values():
        assert a_id not in response.text, shown


def assert_a_unchanged(t: Tenants) -> None:
    after = view_of(t.a, t.a_ids)
    for path, before in t.a_view.items():
        assert after[path] == before, f"A's {path} changed:\n{before}\n->\n{after[path]}"


def test_every_call_on_another_tenants_ids_is_refused_and_changes_nothing(
    tenants: Tenants,
) -> None:
    for call in by_id(tenants.a_ids, tenants.b_ids):
        assert_refused(tenants, call)
    for call in lists(tenants.a_ids):
        assert_hides_a(tenants, call)
    assert_a_unchanged(tenants)


def test_inbound_webhooks_signed_with_another_secret_are_refused(tenants: Tenants) -> None:
    body = json.dumps({"type": "batch.completed", "data": {"id": tenants.a_ids["batch_id"]}})
    now = int(time.time())
    for secret in (B_SECRET, signing.new_secret()):
        headers = signing.webhook_headers([secret], "evt_x", now, body.encode())
        response = httpx.post(
            f"{tenants.stack.api_url}/v1/inbound/{tenants.a_ids['connection_id']}",
            content=body,
            headers=headers,
        )
        assert response.status_code == 401, response.text
        assert error_body_problem(401, response.json()) is None
    assert_a_unchanged(tenants)


@st.composite
def attack_sequences(draw: st.DrawFn, t: Tenants) -> list[tuple[str, Call]]:
    by_id_calls = by_id(t.a_ids, t.b_ids)
    a_ids = list(t.a_ids.values())
    calls: list[tuple[str, Call]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        kind = draw(st.sampled_from(["fixed", "patch", "redeliver", "register", "list"]))
        if kind == "fixed":
            calls.append(("refuse", draw(st.sampled_from(by_id_calls))))
        elif kind == "patch":
            path = f"/v1/endpoints/{t.a_ids['endpoint_id']}"
            calls.append(("refuse", ("PATCH", path, draw(PATCHES), {})))
        elif kind == "redeliver":
            event = draw(st.sampled_from([t.a_ids["event_id"], t.a_ids["test_event_id"]]))
            endpoint = draw(st.sampled_from([None, t.a_ids["endpoint_id"], t.b_ids["endpoint_id"]]))
            redeliver = None if endpoint is None else {"endpoint_id": endpoint}
            calls.append(("refuse", ("POST", f"/v1/events/{event}/redeliver", redeliver, {})))
        elif kind == "register":
            body: dict[str, Any] = {
                "batch_id": draw(st.sampled_from([t.a_ids["batch_id"], new_batch_id()])),
                "connection_id": draw(
                    st.sampled_from([t.a_ids["connection_id"], t.b_ids["connection_id"]])
                ),
                "endpoint_ids": [t.a_ids["endpoint_id"]],
                "metadata": draw(st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)),
            }
            calls.append(("refuse", ("POST", "/v1/batches", body, {})))
        else:
            query = {
                draw(st.sampled_from(["batch_id", "type", "id"])): draw(st.sampled_from(a_ids))
            }
            path = draw(
                st.sampled_from(["/v1/events", "/v1/connections", "/v1/endpoints", "/v1/batches"])
            )
            calls.append(("hide", ("GET", path, None, query)))
    return calls


def test_random_sequences_of_cross_tenant_calls_change_nothing(tenants: Tenants) -> None:
    @given(calls=attack_sequences(tenants))
    @settings(PROPERTY_SETTINGS, max_examples=30)
    def run(calls: list[tuple[str, Call]]) -> None:
        for expectation, call in calls:
            if expectation == "refuse":
                assert_refused(tenants, call)
            else:
                assert_hides_a(tenants, call)
        assert_a_unchanged(tenants)

    run()
