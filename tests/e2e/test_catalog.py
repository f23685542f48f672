"""The event catalog: every event type, listed and in the OpenAPI document's webhooks."""

from __future__ import annotations

import json
import time

import httpx
import openai
import standardwebhooks

from tests.e2e.flows import connect, new_batch_id, subscribe, watch
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from worker.models import DEFAULT_EVENT_TYPES, EVENT_TYPES, SIGNAL_EVENT_TYPES
from worker.signing import new_secret, webhook_headers


def test_every_event_type_is_listed_with_a_sample_a_receiver_accepts(api: httpx.Client) -> None:
    listed = api.get("/v1/event-types")
    assert listed.status_code == 200, listed.text
    entries = {e["name"]: e for e in listed.json()["data"]}

    assert set(entries) == EVENT_TYPES
    assert {n for n, e in entries.items() if e["subscription"] == "default"} == set(
        DEFAULT_EVENT_TYPES
    )
    secret = new_secret()
    for name, entry in entries.items():
        body = json.dumps(entry["sample"]).encode()
        headers = webhook_headers([secret], entry["sample"]["id"], int(time.time()), body)
        standardwebhooks.Webhook(secret).verify(body, headers)
        unwrapped = openai.OpenAI(api_key="x", webhook_secret=secret).webhooks.unwrap(body, headers)
        assert unwrapped.type == name
        assert entry["sample"]["data"]["id"]
    assert entries["batch.progress"]["sample"]["data"]["progress"]["percent"] == 50.0


def test_the_openapi_document_has_one_webhook_per_event_type(api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()

    webhooks = document["webhooks"]
    assert set(webhooks) == EVENT_TYPES
    schemas = document["components"]["schemas"]
    for name in SIGNAL_EVENT_TYPES:
        ref = webhooks[name]["post"]["requestBody"]["content"]["application/json"]["schema"]
        schema = schemas[ref["$ref"].rsplit("/", 1)[1]]
        assert schema["properties"]["type"]["const"] == name
        assert schema["examples"][0]["type"] == name


def test_the_catalog_wants_a_token(api: httpx.Client) -> None:
    anonymous = httpx.get(f"{api.base_url}/v1/event-types")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "authentication_error"


JSON_TYPES = {"string": str, "object": dict, "array": list, "boolean": bool, "number": (int, float)}


def test_a_real_delivery_has_every_field_and_header_its_schema_requires(
    api: httpx.Client, receiver: Receiver
) -> None:
    document = api.get("/openapi.json").json()
    operation = document["webhooks"]["batch.completed"]["post"]
    schemas = document["components"]["schemas"]
    body_schema = schemas[
        operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    ]
    data_schema = schemas[body_schema["properties"]["data"]["$ref"].split("/")[-1]]
    with ProviderStub("openai", api_key="sk-catalog") as stub:
        subscribe(api, receiver)
        batch_id = new_batch_id()
        stub.script(batch_id, ["in_progress", "completed"])
        watch(api, batch_id, connect(api, stub)["id"])
        [hook] = receiver.wait_for(1)

    assert {p["name"] for p in operation["parameters"] if p["required"]} <= set(hook.headers)
    assert set(body_schema["required"]) <= set(hook.json)
    data = hook.json["data"]
    assert set(data_schema["required"]) <= set(data)
    for name, value in data.items():
        allowed = [t["type"] for t in data_schema["properties"].get(name, {}).get("anyOf", [])]
        if value is not None and allowed:
            assert isinstance(value, tuple(JSON_TYPES[t] for t in allowed if t != "null")), name
