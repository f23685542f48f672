"""Every event type the served API documents has a typed class here, and its sample
parses into that class with the data fields the schema requires."""

from __future__ import annotations

from typing import Any

import httpx
from batchhook_client import Client, webhooks

from tests.e2e.stack import Stack


def schema_of(document: dict[str, Any], ref_holder: dict[str, Any]) -> dict[str, Any]:
    ref = ref_holder.get("$ref")
    if ref is None:
        return ref_holder
    found: Any = document
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return dict(found)


def test_every_documented_event_type_parses_into_its_own_typed_class(
    client: Client, stack: Stack
) -> None:
    document = httpx.get(f"{stack.api_url}/openapi.json", timeout=10).json()
    samples = {t.name: t.sample for t in client.event_types.list()}
    documented = document["webhooks"]

    assert set(documented) == set(samples)
    assert set(documented) <= set(webhooks.EVENT_CLASSES)
    for name, hook in documented.items():
        body = hook["post"]["requestBody"]["content"]["application/json"]["schema"]
        schema = schema_of(document, body)
        data_schema = schema_of(document, schema["properties"]["data"])
        cls = webhooks.EVENT_CLASSES[name]
        for sample in (samples[name], *schema.get("examples", [])):
            event = webhooks.parse_event(sample)
            assert type(event) is cls, name
            assert event.type == name and event.id == sample["id"]
            for field in data_schema.get("required", []):  # each a typed attribute
                assert hasattr(event.data, field), (name, field)
            for field, value in sample["data"].items():
                if hasattr(event.data, field) and not isinstance(value, dict):
                    assert getattr(event.data, field) == value, (name, field)
