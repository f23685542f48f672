"""GET /v1/events/stream: the tenant's events as server-sent events, resumable."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.e2e.flows import connect, new_batch_id, subscribe, watch
from tests.e2e.stack import Stack
from tests.support.event_stream import EventStream
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver


def token_of(api: httpx.Client) -> str:
    return str(api.headers["authorization"]).removeprefix("Bearer ")


def test_event(api: httpx.Client, endpoint_id: str) -> str:
    answer = api.post(f"/v1/endpoints/{endpoint_id}/test")
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


test_event.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def shown(api: httpx.Client, event_id: str) -> dict[str, Any]:
    answer = api.get(f"/v1/events/{event_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_batch_completing_arrives_on_the_stream_with_its_id_type_and_body(
    stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-stream") as stub:
        conn = connect(api, stub)
        endpoint = subscribe(api, receiver)
        earlier = test_event(api, endpoint["id"])  # before the stream: not sent (no backlog)
        with EventStream(stack.api_url, token_of(api)) as stream, stack.client() as other:
            assert stream.response.headers["content-type"].startswith("text/event-stream")
            theirs = test_event(other, subscribe(other, receiver)["id"])  # not my tenant's
            batch_id = new_batch_id()
            stub.script(batch_id, ["in_progress", "completed"])
            stub.set_file(f"file-out-{batch_id}", b'{"custom_id": "1"}\n')
            watch(api, batch_id, conn["id"])

            got = stream.wait_for(1, predicate=lambda e: e.event == "batch.completed")

        assert [e.event for e in got] == ["batch.in_progress", "batch.completed"]
        assert earlier not in [e.id for e in got] and theirs not in [e.id for e in got]
        completed = got[-1]
        assert completed.lines == (
            f"id: {completed.id}",
            "event: batch.completed",
            f"data: {completed.data}",
        )
        body = json.loads(completed.data)
        stored = shown(api, completed.id)["payload"]
        links = {name: body["data"].pop(name) for name in ("output_url", "error_url")}
        assert body == stored  # the stored event, with its result links added
        assert body["id"] == completed.id and body["type"] == "batch.completed"
        assert body["data"]["id"] == batch_id
        assert body["data"]["output_file_id"] == f"file-out-{batch_id}"
        output = httpx.get(links["output_url"], timeout=10)  # signed: no token needed
        assert (output.status_code, output.content) == (200, b'{"custom_id": "1"}\n')


def resumed_from(api: httpx.Client, event_id: str) -> list[str]:
    """What a stream resuming after ``event_id`` sends first: the tenant's events of its
    second (``created_at`` is whole seconds) and after, but for itself, in the index's
    order (created_at, then id)."""
    events = api.get("/v1/events").json()["data"]
    second = next(e["created_at"] for e in events if e["id"] == event_id)
    later = sorted((e["created_at"], e["id"]) for e in events if e["created_at"] >= second)
    return [eid for _, eid in later if eid != event_id]


def test_a_client_resuming_with_last_event_id_gets_the_events_it_missed(
    stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    endpoint = subscribe(api, receiver)["id"]
    with EventStream(stack.api_url, token_of(api)) as stream:
        seen = test_event(api, endpoint)
        assert [e.id for e in stream.wait_for_id(seen)] == [seen]
    missed = [test_event(api, endpoint) for _ in range(3)]
    expected = resumed_from(api, seen)
    assert sorted(expected) == sorted(missed)

    with EventStream(stack.api_url, token_of(api), headers={"last-event-id": seen}) as resumed:
        assert [e.id for e in resumed.wait_for(3)] == expected
        live = test_event(api, endpoint)
        got = [e.id for e in resumed.wait_for_id(live)]
        assert got == [*expected, live]  # each once, then the live one

    # A client that cannot set headers names the event in the query instead.
    expected = resumed_from(api, missed[0])
    with EventStream(stack.api_url, token_of(api), params={"last_event_id": missed[0]}) as again:
        assert [e.id for e in again.wait_for(len(expected))] == expected


def test_the_types_filter_sends_only_those_types(
    stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-stream-types") as stub:
        conn = connect(api, stub)
        endpoint = subscribe(api, receiver)["id"]
        wanted = {"types": "batch.completed, batch.failed"}
        with EventStream(stack.api_url, token_of(api), params=wanted) as stream:
            skipped = test_event(api, endpoint)
            done, broken = new_batch_id(), new_batch_id()
            stub.script(done, ["in_progress", "completed"])
            watch(api, done, conn["id"])
            first = stream.wait_for(1)
            stub.script(broken, ["in_progress", "failed"])
            watch(api, broken, conn["id"])
            got = stream.wait_for(2)

        assert first[0].event == "batch.completed"
        assert [(e.event, json.loads(e.data)["data"]["id"]) for e in got] == [
            ("batch.completed", done),
            ("batch.failed", broken),
        ]
        assert skipped not in [e.id for e in got]


@pytest.mark.parametrize(
    ("request_args", "status"),
    [
        ({"params": {"types": "batch.nope"}}, 422),
        ({"params": {"types": "batch.completed,nope"}}, 422),
        ({"params": {"types": ","}}, 422),
        ({"headers": {"last-event-id": "evt_never_made"}}, 404),
        ({"params": {"last_event_id": "evt_never_made"}}, 404),
    ],
)
def test_bad_stream_requests_are_refused_before_streaming(
    api: httpx.Client, request_args: dict[str, Any], status: int
) -> None:
    answer = api.get("/v1/events/stream", **request_args)

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert error["type"] in ("invalid_request_error", "not_found") and error["message"]


def test_another_tenants_event_is_no_place_to_resume_from(
    stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    with stack.client() as other:
        theirs = test_event(other, subscribe(other, receiver)["id"])
    answer = api.get("/v1/events/stream", headers={"last-event-id": theirs})

    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer bh_wrong"}])
def test_the_stream_wants_a_valid_token(stack: Stack, headers: dict[str, str]) -> None:
    answer = httpx.get(f"{stack.api_url}/v1/events/stream", headers=headers)

    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "authentication_error"


def test_a_quiet_stream_sends_a_keep_alive_comment(stack: Stack, api: httpx.Client) -> None:
    with EventStream(stack.api_url, token_of(api)) as stream:
        stream.wait_for_line(": keep-alive", timeout_s=25)  # every ~15 s without an event
        assert stream.events == []
