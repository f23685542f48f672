"""What a downstream service does through the API, as small helpers for the tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until


def new_batch_id() -> str:
    return f"batch_{uuid.uuid4().hex[:16]}"


def connect(api: httpx.Client, stub: ProviderStub, **extra: Any) -> dict[str, Any]:
    body = {"provider": stub.flavour, "api_key": stub.api_key, "base_url": stub.base_url, **extra}
    response = api.post("/v1/connections", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def subscribe(api: httpx.Client, receiver: Receiver, **extra: Any) -> dict[str, Any]:
    response = api.post("/v1/endpoints", json={"url": receiver.url, **extra})
    assert response.status_code == 201, response.text
    endpoint = dict(response.json())
    receiver.secret = endpoint["secret"]
    return endpoint


def watch(api: httpx.Client, batch_id: str, connection_id: str, **extra: Any) -> dict[str, Any]:
    body = {"batch_id": batch_id, "connection_id": connection_id, "poll_interval": 1, **extra}
    response = api.post("/v1/batches", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def events_of(api: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    response = api.get("/v1/events", params={"batch_id": batch_id})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def wait_for_delivery_state(
    api: httpx.Client, event_id: str, state: str, timeout_s: float = 20
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        event = api.get(f"/v1/events/{event_id}").json()
        deliveries = event["deliveries"]
        return event if deliveries and all(d["state"] == state for d in deliveries) else None

    found: dict[str, Any] = wait_until(
        reached, timeout_s=timeout_s, message=f"{event_id} never reached {state}"
    )
    return found
