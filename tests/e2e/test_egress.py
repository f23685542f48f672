"""Egress through the whole stack with private destinations refused (the default).

Registration refuses what may not be called; and what was registered while private
destinations were allowed (a development stack on the same Redis) is still not called by
a worker that refuses them: its HTTP clients judge the address they connect to.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.flows import connect, new_batch_id, subscribe, watch
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from worker.destinations import PRIVATE_REFUSED


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Stack]]:
    """(lenient, strict) on one Redis: an API that allows private destinations, and a
    whole stack that does not."""
    with RedisServer() as server:
        lenient = Stack(server.url, tmp_path_factory.mktemp("lenient"))
        strict = Stack(
            server.url, tmp_path_factory.mktemp("strict"), BATCHHOOK_ALLOW_PRIVATE_DESTINATIONS="0"
        )
        try:
            lenient.start_web()
            yield lenient, strict.start()
        finally:
            strict.stop()
            lenient.stop()


@pytest.fixture
def token(stacks: tuple[Stack, Stack]) -> str:
    return stacks[1].new_token()


@pytest.mark.parametrize(
    ("path", "body", "why"),
    [
        ("/v1/endpoints", {"url": "http://hooks.example.com/hook"}, "only https"),
        ("/v1/endpoints", {"url": "ftp://hooks.example.com/hook"}, "http(s)"),
        ("/v1/endpoints", {"url": "https://127.0.0.1/hook"}, PRIVATE_REFUSED),
        ("/v1/endpoints", {"url": "https://[::ffff:10.0.0.1]/hook"}, PRIVATE_REFUSED),
        ("/v1/endpoints", {"url": "https://169.254.169.254/latest/meta-data"}, PRIVATE_REFUSED),
        ("/v1/endpoints", {"url": "https://localhost:8443/hook"}, PRIVATE_REFUSED),
        ("/v1/endpoints", {"url": "https://u:p@hooks.example.com/hook"}, "credentials"),
        (
            "/v1/connections",
            {"provider": "openai", "api_key": "sk-x", "base_url": "https://10.0.0.1/v1"},
            PRIVATE_REFUSED,
        ),
        (
            "/v1/connections",
            {"provider": "portkey", "api_key": "pk-x", "base_url": "http://localhost:8787/v1"},
            "only https",
        ),
    ],
    ids=[
        "plain-http",
        "ftp",
        "loopback",
        "ipv4-mapped-private",
        "cloud-metadata",
        "localhost",
        "credentials",
        "private-provider",
        "plain-http-provider",
    ],
)
def test_registration_refuses_destinations_that_may_not_be_called(
    stacks: tuple[Stack, Stack], token: str, path: str, body: dict[str, str], why: str
) -> None:
    with stacks[1].client(token) as api:
        answer = api.post(path, json=body)
        assert answer.status_code == 422, answer.text
        assert why in answer.json()["error"]["message"]
        assert api.get(path).json()["data"] == []


def test_a_provider_on_a_private_address_is_not_polled(
    stacks: tuple[Stack, Stack], token: str
) -> None:
    lenient, strict = stacks
    batch_id = new_batch_id()
    with ProviderStub("openai", api_key="sk-egress") as stub, lenient.client(token) as dev:
        stub.set_batch(batch_id, "in_progress")
        watch(dev, batch_id, connect(dev, stub)["id"])
        with strict.client(token) as api:

            def last_error() -> str:
                return str(api.get(f"/v1/batches/{batch_id}").json()["last_error"] or "")

            error = wait_until(last_error, message="the strict worker never polled")
            assert api.get(f"/v1/batches/{batch_id}").json()["status"] is None
        # The poll failed before connecting (the provider error names the failure's type
        # only, so the refusal's own words are not shown here) and the stand-in saw nothing.
        assert error.startswith("Connect")
        assert stub.requests_for(batch_id) == []


def test_an_endpoint_on_a_private_address_gets_no_webhook(
    stacks: tuple[Stack, Stack], token: str, receiver: Receiver
) -> None:
    lenient, strict = stacks
    with lenient.client(token) as dev:
        endpoint = subscribe(dev, receiver)
    with strict.client(token) as api:
        event = api.post(f"/v1/endpoints/{endpoint['id']}/test").json()

        def failed() -> list[dict[str, object]]:
            deliveries = api.get(f"/v1/events/{event['id']}").json()["deliveries"]
            done = deliveries and deliveries[0]["state"] == "failed"
            return list(deliveries[0]["attempts"]) if done else []

        [attempt] = wait_until(failed, message="the strict worker never tried to deliver")
    assert attempt["status_code"] is None
    assert attempt["error"] == "only https URLs are accepted"
    assert receiver.received == []
