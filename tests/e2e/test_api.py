"""The API as a downstream service meets it: errors, tenants, and what it shows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis

from tests.e2e.flows import connect, new_batch_id, subscribe, watch
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until

VALID_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def snapshot(api: httpx.Client) -> dict[str, Any]:
    return {
        path: api.get(path).json()["data"]
        for path in ("/v1/connections", "/v1/endpoints", "/v1/batches", "/v1/events")
    }


def assert_error(response: httpx.Response, status: int | tuple[int, ...]) -> None:
    allowed = status if isinstance(status, tuple) else (status,)
    assert response.status_code in allowed, (response.status_code, response.text)
    error = response.json()["error"]
    assert isinstance(error["type"], str) and error["type"]
    assert isinstance(error["message"], str) and error["message"]


BAD_CONNECTIONS = [
    {},
    {"provider": "nope", "api_key": "k"},
    {"provider": "openai"},
    {"provider": "openai", "api_key": ""},
    {"provider": "openai", "api_key": 5},
    {"provider": "openai", "api_key": "k", "base_url": "ftp://x"},
    {"provider": "openai", "api_key": "k", "headers": {"bad header": "x"}},
    {"provider": "openai", "api_key": "k", "headers": {"x-a": "line\r\nbreak"}},
    {"provider": "openai", "api_key": "k", "webhook_secret": "not-a-secret"},
    {"provider": "openai", "api_key": "k", "params": "not-an-object"},
    {"provider": "openai", "api_key": "k", "surprise": 1},
]

BAD_ENDPOINTS = [
    {},
    {"url": "not a url"},
    {"url": "https://example.com/h", "events": ["batch.nope"]},
    {"url": "https://example.com/h", "events": []},
    {"url": "https://example.com/h", "secret": "whsec_short"},
    {"url": "https://example.com/h", "description": 7},
]


@pytest.mark.parametrize("body", BAD_CONNECTIONS)
def test_bad_connections_are_refused_and_store_nothing(
    api: httpx.Client, body: dict[str, Any]
) -> None:
    before = snapshot(api)
    assert_error(api.post("/v1/connections", json=body), (400, 422))
    assert snapshot(api) == before


@pytest.mark.parametrize("body", BAD_ENDPOINTS)
def test_bad_endpoints_are_refused_and_store_nothing(
    api: httpx.Client, body: dict[str, Any]
) -> None:
    before = snapshot(api)
    assert_error(api.post("/v1/endpoints", json=body), (400, 422))
    assert snapshot(api) == before


def test_bad_batch_registrations_are_refused_and_store_nothing(
    api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-bad-input") as stub:
        conn = connect(api, stub)
        subscribe(api, receiver)
        before = snapshot(api)
        good = {"batch_id": new_batch_id(), "connection_id": conn["id"]}
        cases: list[tuple[dict[str, Any], int | tuple[int, ...]]] = [
            ({}, 422),
            ({**good, "batch_id": ""}, 422),
            ({**good, "batch_id": "../../etc"}, 422),
            ({**good, "connection_id": "conn_missing"}, 404),
            ({**good, "endpoint_ids": ["ep_missing"]}, 404),
            ({**good, "poll_interval": 0}, 422),
            ({**good, "poll_interval": 86401}, 422),
            ({**good, "poll_interval": "soon"}, 422),
            ({**good, "metadata": ["not", "an", "object"]}, 422),
            ({**good, "extra": True}, 422),
        ]
        for body, status in cases:
            assert_error(api.post("/v1/batches", json=body), status)
        assert_error(
            api.post(
                "/v1/batches", content=b"{not json", headers={"content-type": "application/json"}
            ),
            (400, 422),
        )
        assert snapshot(api) == before


def test_bad_calls_on_existing_objects_change_nothing(
    api: httpx.Client, receiver: Receiver
) -> None:
    endpoint = subscribe(api, receiver)
    before = snapshot(api)
    assert_error(api.patch(f"/v1/endpoints/{endpoint['id']}", json={"url": "nope"}), 422)
    assert_error(api.patch(f"/v1/endpoints/{endpoint['id']}", json={"events": ["x"]}), 422)
    assert_error(api.post("/v1/events/evt_missing/redeliver", json={}), 404)
    assert_error(api.get("/v1/events", params={"limit": 0}), 422)
    assert_error(api.delete("/v1/batches/batch_never_watched"), 404)
    assert_error(api.delete("/v1/connections/conn_missing"), 404)
    assert_error(api.post("/v1/endpoints/ep_missing/rotate-secret"), 404)
    assert_error(api.post("/v1/endpoints/ep_missing/test"), 404)
    assert snapshot(api) == before


def test_calls_without_a_valid_token_are_refused(stack: Stack) -> None:
    for headers in ({}, {"authorization": "Bearer bh_wrong"}, {"authorization": "Basic x"}):
        response = httpx.get(f"{stack.api_url}/v1/batches", headers=headers)
        assert_error(response, 401)


def test_another_tenant_sees_none_of_my_objects(
    stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-tenant-a") as stub:
        conn = connect(api, stub)
        endpoint = subscribe(api, receiver)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "completed")
        watch(api, batch_id, conn["id"])
        receiver.wait_for(1)
        event_id = api.get("/v1/events").json()["data"][0]["id"]

        with stack.client() as intruder:
            for path in (
                f"/v1/connections/{conn['id']}",
                f"/v1/endpoints/{endpoint['id']}",
                f"/v1/batches/{batch_id}",
                f"/v1/events/{event_id}",
            ):
                assert_error(intruder.get(path), 404)
                assert_error(intruder.delete(path), (404, 405))
            assert_error(intruder.post(f"/v1/events/{event_id}/redeliver", json={}), 404)
            assert_error(
                intruder.post(
                    "/v1/batches", json={"batch_id": batch_id, "connection_id": conn["id"]}
                ),
                404,
            )
            for path in ("/v1/connections", "/v1/endpoints", "/v1/batches", "/v1/events"):
                assert intruder.get(path).json()["data"] == []
        assert api.get(f"/v1/batches/{batch_id}").status_code == 200


def test_keys_and_secrets_are_never_shown_again(api: httpx.Client, receiver: Receiver) -> None:
    with ProviderStub("openai", api_key="sk-never-shown-123") as stub:
        conn = connect(api, stub, webhook_secret=VALID_SECRET)
        endpoint = subscribe(api, receiver)
        texts = [
            api.get("/v1/connections").text,
            api.get(f"/v1/connections/{conn['id']}").text,
            api.get("/v1/endpoints").text,
            api.get(f"/v1/endpoints/{endpoint['id']}").text,
        ]
        for text in texts:
            assert "sk-never-shown-123" not in text
            assert VALID_SECRET not in text
            assert endpoint["secret"] not in text


def test_credential_headers_are_stored_sealed_and_shown_redacted(
    api: httpx.Client, stack: Stack
) -> None:
    headers = {"x-portkey-provider": "openai", "x-portkey-api-key": "pk-hidden-456"}
    with ProviderStub("portkey", api_key="sk-portkey", headers=headers) as stub:
        conn = connect(api, stub, headers=headers)
        shown = api.get(f"/v1/connections/{conn['id']}").json()["headers"]
        assert shown == {"x-portkey-provider": "openai", "x-portkey-api-key": "[redacted]"}
        assert conn["headers"] == shown
        stored = redis.Redis.from_url(stack.env["BATCHHOOK_REDIS_URL"]).hgetall(
            f"bh:conn:{conn['id']}"
        )
        assert stored, "the connection is not where the test looks for it"
        assert not any(b"pk-hidden-456" in value for value in stored.values())


def test_registering_twice_answers_200_with_the_same_watch(
    api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-twice") as stub:
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        watch(api, batch_id, conn["id"])
        again = api.post("/v1/batches", json={"batch_id": batch_id, "connection_id": conn["id"]})
        assert again.status_code == 200
        assert again.json()["watching"] is True
        assert len(api.get("/v1/batches").json()["data"]) == 1

        assert api.delete(f"/v1/batches/{batch_id}").status_code == 200
        assert api.get(f"/v1/batches/{batch_id}").status_code == 404
        assert api.get("/v1/batches").json()["data"] == []


def test_registering_a_finished_batch_again_answers_with_its_history_and_events(
    api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-again-shown") as stub:
        subscribe(api, receiver)
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "completed")
        watch(api, batch_id, conn["id"])
        shown = wait_until(lambda: (b := api.get(f"/v1/batches/{batch_id}").json())["events"] and b)

        again = api.post("/v1/batches", json={"batch_id": batch_id, "connection_id": conn["id"]})

        assert again.status_code == 200
        assert again.json()["status"] == "completed"
        assert again.json()["history"] == shown["history"] != []
        assert [e["id"] for e in again.json()["events"]] == [e["id"] for e in shown["events"]]
        assert again.json()["events"][0]["type"] == "batch.completed"


def test_deleting_a_connection_in_use_is_refused(api: httpx.Client) -> None:
    with ProviderStub("openai", api_key="sk-in-use") as stub:
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        watch(api, batch_id, conn["id"])
        assert_error(api.delete(f"/v1/connections/{conn['id']}"), 409)
        api.delete(f"/v1/batches/{batch_id}")
        assert api.delete(f"/v1/connections/{conn['id']}").status_code == 200
        assert api.get("/v1/connections").json()["data"] == []
