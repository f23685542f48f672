"""The receiver helpers inside the real frameworks, serving real HTTP on 127.0.0.1: a
batch finishing at the provider reaches each handler as a verified ``BatchCompleted``;
a forged webhook gets 400 and never reaches it.

No ``from __future__ import annotations`` here: FastAPI reads a route's annotations at
run time, and the dependency of the route made inside ``fastapi_site`` names a local."""

import time
from collections.abc import Iterator
from typing import Annotated, Any

import flask
import httpx
import pytest
from batchhook_client import Client, Connection
from batchhook_client.webhooks import BatchCompleted, Event
from batchhook_client.webhooks.fastapi import webhook_event
from batchhook_client.webhooks.flask import verified_webhook as flask_webhook
from fastapi import Depends, FastAPI

from tests.client import django_site
from tests.client.servers import serve_asgi, serve_wsgi
from tests.e2e.flows import new_batch_id
from tests.support.provider_stub import ProviderStub
from tests.support.waiting import wait_until
from worker.signing import new_secret, webhook_headers

PATH = "/hooks/batches"


def fastapi_site(secret: str, received: list[Event[Any]]) -> Any:
    app = FastAPI()

    @app.post(PATH, status_code=204)
    def batch_hook(event: Annotated[Event[Any], Depends(webhook_event(secret))]) -> None:
        received.append(event)

    return app


def flask_site(secret: str, received: list[Event[Any]]) -> Any:
    app = flask.Flask(__name__)

    @app.post(PATH)
    @flask_webhook(secret)
    def batch_hook(event: Event[Any]) -> tuple[str, int]:
        received.append(event)
        return "", 204

    return app


@pytest.fixture(params=["fastapi", "flask", "django"])
def site(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, list[Event[Any]]]]:
    """The framework's handler URL, the secret it verifies with and what it received."""
    if request.param == "django":
        django_site.received.clear()
        with serve_wsgi(django_site.configure()) as base:
            yield base + PATH, django_site.SECRET, django_site.received
        return
    secret, received = new_secret(), []
    if request.param == "fastapi":
        with serve_asgi(fastapi_site(secret, received)) as base:
            yield base + PATH, secret, received
    else:
        with serve_wsgi(flask_site(secret, received)) as base:
            yield base + PATH, secret, received


def test_a_completed_batch_reaches_the_handler_as_a_verified_typed_event(
    site: tuple[str, str, list[Event[Any]]],
    client: Client,
    connection: Connection,
    provider: ProviderStub,
) -> None:
    url, secret, received = site
    endpoint = client.endpoints.create(url=url, secret=secret)
    batch_id = new_batch_id()
    provider.set_batch(batch_id, "completed")

    client.watch_batch(
        batch_id=batch_id, connection_id=connection.id, endpoint_ids=[endpoint.id], poll_interval=1
    )

    [event] = wait_until(lambda: received, timeout_s=20, message="the handler got nothing")
    assert isinstance(event, BatchCompleted)
    assert (event.data.id, event.data.output_file_id) == (batch_id, f"file-out-{batch_id}")
    [delivery] = wait_until(
        lambda: [d for d in client.events.get(event.id).deliveries if d.state == "succeeded"]
    )
    assert delivery.attempts[-1].status_code == 204
    client.batches.unwatch(batch_id)
    client.endpoints.delete(endpoint.id)


def test_a_forged_webhook_gets_400_and_never_reaches_the_handler(
    site: tuple[str, str, list[Event[Any]]],
) -> None:
    url, _, received = site
    body = b'{"id": "evt_1", "object": "event", "type": "batch.completed", "data": {"id": "b"}}'
    forged = webhook_headers([new_secret()], "evt_1", int(time.time()), body)

    answer = httpx.post(url, content=body, headers=forged)
    unsigned = httpx.post(url, content=body, headers={"content-type": "application/json"})

    assert (answer.status_code, unsigned.status_code) == (400, 400)
    assert "invalid webhook" in answer.text
    assert received == []


def test_the_django_view_takes_post_only() -> None:
    with serve_wsgi(django_site.configure()) as base:
        assert httpx.get(base + PATH).status_code == 405
