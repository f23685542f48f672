"""Queue destinations: RabbitMQ, NATS JetStream and a Redis Stream get each change as a
consumer reads it, signed as a webhook is (verified here with ``standardwebhooks``);
and Slack endpoints get a readable message."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import kombu
import pytest
import redis
import standardwebhooks

from tests.e2e.flows import connect, new_batch_id, subscribe, wait_for_delivery_state, watch
from tests.support.nats_jetstream import jetstream_stream
from tests.support.provider_stub import ProviderStub
from tests.support.rabbitmq import Vhost, rabbitmq_vhost
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer
from tests.support.redis_tls import TlsRedisServer
from tests.support.waiting import wait_until
from worker.queues import QueueError, QueuePublisher


@pytest.fixture
def vhost() -> Iterator[Vhost]:
    with rabbitmq_vhost("bh-queue") as fresh:
        yield fresh


def bind_queue(vhost: Vhost, exchange: str, routing_key: str) -> kombu.Queue:
    """A durable queue bound to a direct exchange, both declared now."""
    queue = kombu.Queue(
        f"q-{routing_key}", kombu.Exchange(exchange, type="direct"), routing_key=routing_key
    )
    with kombu.Connection(vhost.url) as conn:
        queue(conn.channel()).declare()
    return queue


def take_messages(vhost: Vhost, queue: kombu.Queue, count: int) -> list[kombu.Message]:
    got: list[kombu.Message] = []
    with kombu.Connection(vhost.url) as conn:
        bound = queue(conn.channel())

        def got_all() -> list[kombu.Message] | None:
            while (message := bound.get(no_ack=True)) is not None:
                got.append(message)
            return got if len(got) >= count else None

        found: list[kombu.Message] = wait_until(got_all, timeout_s=20, message="no message")
        return found


def queue_endpoint(api: httpx.Client, url: str, **extra: Any) -> dict[str, Any]:
    response = api.post("/v1/endpoints", json={"url": url, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


def complete_a_batch(api: httpx.Client, stub: ProviderStub, **watch_extra: Any) -> str:
    batch_id = new_batch_id()
    stub.script(batch_id, ["in_progress", "completed"])
    watch(api, batch_id, connect(api, stub)["id"], **watch_extra)
    return batch_id


def completed_event_id(api: httpx.Client, batch_id: str) -> str:
    def listed() -> list[dict[str, Any]] | None:
        params = {"batch_id": batch_id, "type": "batch.completed"}
        return list(api.get("/v1/events", params=params).json()["data"]) or None

    [event] = wait_until(listed, timeout_s=20, message=f"{batch_id} never completed")
    return str(event["id"])


def verified(secret: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    signed = {
        name: headers[name] for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    return dict(standardwebhooks.Webhook(secret).verify(body, signed))


def test_rabbitmq_gets_the_event_with_webhook_headers_and_a_confirmed_attempt(
    api: httpx.Client, vhost: Vhost
) -> None:
    queue = bind_queue(vhost, "batch-events", "done")
    url = f"{vhost.url}?exchange=batch-events&routing_key=done"
    endpoint = queue_endpoint(api, url)
    assert "guest:guest" not in json.dumps(endpoint)  # the password is never shown back
    assert endpoint["url"].startswith("amqp://guest:***@")
    with ProviderStub("openai", api_key="sk-queue-test") as stub:
        batch_id = complete_a_batch(api, stub)
        [message] = take_messages(vhost, queue, 1)

    headers = {k: str(v) for k, v in message.headers.items()}
    event = verified(endpoint["secret"], headers, message.body)
    assert event["type"] == "batch.completed"
    assert event["data"]["id"] == batch_id
    assert headers["webhook-id"] == event["id"]
    assert message.properties["message_id"] == event["id"]
    assert message.content_type == "application/json"
    delivered = wait_for_delivery_state(api, event["id"], "succeeded")
    [attempt] = delivered["deliveries"][0]["attempts"]
    assert attempt["error"] is None
    assert "confirmed by RabbitMQ" in attempt["response"]


def test_an_unroutable_message_is_retried_then_lands_once_a_queue_is_bound(
    api: httpx.Client, vhost: Vhost
) -> None:
    """Published mandatory: with no queue bound, the broker returns it and the attempt
    fails; the delivery is retried on schedule, and redelivered once a queue exists."""
    url = f"{vhost.url}?exchange=amq.direct&routing_key=nobody-yet"
    endpoint = queue_endpoint(api, url)
    with ProviderStub("openai", api_key="sk-queue-test") as stub:
        batch_id = complete_a_batch(api, stub)
        event_id = completed_event_id(api, batch_id)
    failed = wait_for_delivery_state(api, event_id, "failed")
    attempts = failed["deliveries"][0]["attempts"]
    assert len(attempts) == 4  # the first and the three retries of the stack's schedule
    assert all("NO_ROUTE" in a["error"] for a in attempts)

    queue = bind_queue(vhost, "amq.direct", "nobody-yet")
    api.post(f"/v1/events/{event_id}/redeliver").raise_for_status()
    [message] = take_messages(vhost, queue, 1)
    assert verified(endpoint["secret"], dict(message.headers), message.body)["id"] == event_id


def test_nats_jetstream_stores_the_event_with_webhook_headers(api: httpx.Client) -> None:
    with jetstream_stream() as stream, ProviderStub("openai", api_key="sk-queue-test") as stub:
        endpoint = queue_endpoint(api, f"{stream.server}?subject={quote(stream.subject)}")
        batch_id = complete_a_batch(api, stub)
        [(headers, body)] = wait_until(stream.messages, timeout_s=20, message="nothing stored")

    event = verified(endpoint["secret"], headers, body)
    assert (event["type"], event["data"]["id"]) == ("batch.completed", batch_id)
    delivered = wait_for_delivery_state(api, event["id"], "succeeded")
    assert "stored by JetStream" in delivered["deliveries"][0]["attempts"][0]["response"]


def test_nats_without_a_stream_for_the_subject_fails_the_attempt(api: httpx.Client) -> None:
    with jetstream_stream() as stream, ProviderStub("openai", api_key="sk-queue-test") as stub:
        queue_endpoint(api, f"{stream.server}?subject=no-stream-takes-this")
        batch_id = complete_a_batch(api, stub)
        failed = wait_for_delivery_state(api, completed_event_id(api, batch_id), "failed")
    errors = [a["error"] for a in failed["deliveries"][0]["attempts"]]
    assert errors and all(e and "NoStreamResponse" in e for e in errors), errors


def test_a_redis_stream_gets_one_entry_per_change(
    api: httpx.Client, redis_server: RedisServer
) -> None:
    key = f"bh-events-{new_batch_id()}"
    endpoint = queue_endpoint(api, f"redis://127.0.0.1:{redis_server.port}/3?stream={key}")
    client = redis.Redis(port=redis_server.port, db=3)
    with ProviderStub("openai", api_key="sk-queue-test") as stub:
        batch_id = complete_a_batch(api, stub, endpoint_ids=[endpoint["id"]])
        [(entry_id, fields)] = wait_until(
            lambda: client.xrange(key) or None, timeout_s=20, message="no stream entry"
        )
    headers = {k.decode(): v.decode() for k, v in fields.items() if k != b"body"}
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    event = verified(endpoint["secret"], headers, fields[b"body"])
    assert (event["type"], event["data"]["id"]) == ("batch.completed", batch_id)
    delivered = wait_for_delivery_state(api, event["id"], "succeeded")
    assert entry_id.decode() in delivered["deliveries"][0]["attempts"][0]["response"]
    client.delete(key)


def test_queue_credentials_are_sealed_at_rest_and_masked_everywhere(
    api: httpx.Client, redis_server: RedisServer, vhost: Vhost
) -> None:
    password = "s3cret-pass-for-this-test"
    url = f"amqp://guest:{password}@127.0.0.1:5672/{quote(vhost.name, safe='')}?routing_key=k"
    endpoint = queue_endpoint(api, url)
    shown = [
        endpoint,
        api.get(f"/v1/endpoints/{endpoint['id']}").json(),
        api.get("/v1/endpoints").json(),
        api.patch(f"/v1/endpoints/{endpoint['id']}", json={"description": "x"}).json(),
        api.patch(
            f"/v1/endpoints/{endpoint['id']}", json={"url": url.removesuffix("=k") + "=other-key"}
        ).json(),
    ]
    assert shown[-1]["url"].endswith("routing_key=other-key")
    assert all(password not in json.dumps(answer) for answer in shown)
    stored = redis.Redis(port=redis_server.port, decode_responses=True)
    for key in stored.scan_iter(f"*{endpoint['id']}*"):
        if stored.type(key) == "hash":
            assert password not in json.dumps(stored.hgetall(key))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("amqp://guest:guest@127.0.0.1:5672/", "exchange"),
        ("nats://127.0.0.1:4222", "subject"),
        ("redis://127.0.0.1:6379/0", "stream"),
        ("redis://127.0.0.1:6379/notanumber?stream=s", "database"),
        ("nats://127.0.0.1:4222?subject=s&queue=q", "subject"),
        ("ftp://127.0.0.1/x", "http(s) or queue URL"),
    ],
)
def test_a_bad_queue_url_is_refused_and_nothing_is_stored(
    api: httpx.Client, url: str, why: str
) -> None:
    before = api.get("/v1/endpoints").json()["data"]
    response = api.post("/v1/endpoints", json={"url": url})
    assert response.status_code == 422, response.text
    assert why in response.json()["error"]["message"]
    assert api.get("/v1/endpoints").json()["data"] == before


def test_a_slack_endpoint_gets_a_readable_message(api: httpx.Client, receiver: Receiver) -> None:
    """``format: "slack"``: the body is an incoming-webhook message (text and blocks)
    with the batch, its status, counts and the result link, not the event JSON."""
    endpoint = subscribe(api, receiver, format="slack")
    assert endpoint["format"] == "slack"
    with ProviderStub("openai", api_key="sk-queue-test") as stub:
        batch_id = complete_a_batch(api, stub)
        [hook] = receiver.wait_for(1)
    message = hook.json
    assert message["text"] == f":white_check_mark: Batch completed: {batch_id}"
    shown = json.dumps(message["blocks"], ensure_ascii=False)
    assert "in_progress → completed" in shown
    assert "completed, 0 failed of" in shown
    assert f"/v1/batches/{batch_id}/output?" in shown  # the signed link, added per attempt
    assert api.get(f"/v1/endpoints/{endpoint['id']}").json()["format"] == "slack"
    assert api.post("/v1/endpoints", json={"url": receiver.url, "format": "xml"}).status_code == 422


def test_a_connection_lost_between_tasks_is_reopened_within_the_attempt() -> None:
    """A worker's loop does not run between tasks, so a connection the server closed
    meanwhile is only found broken on the next publish: that publish still lands, on a
    new connection, rather than failing the attempt."""
    headers = {"webhook-id": "evt_x", "webhook-timestamp": "1", "webhook-signature": "v1,x"}
    with RedisServer() as server, asyncio.Runner() as loop:
        url = f"redis://127.0.0.1:{server.port}/0?stream=events"
        publisher = QueuePublisher(allow_private=True)
        loop.run(publisher.publish(url, headers, b'{"n": 1}', 5))
        server.restart()  # the server goes away and comes back; the client has not noticed
        receipt = loop.run(publisher.publish(url, headers, b'{"n": 2}', 5))
        loop.run(publisher.aclose())
        entries = redis.Redis(port=server.port).xrange("events")
    assert "added to stream 'events'" in receipt
    assert [fields[b"body"] for _, fields in entries] == [b'{"n": 1}', b'{"n": 2}']


def test_a_rediss_stream_is_published_over_verified_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    """``rediss://``: TLS checked against the system's trust store (here the test CA,
    through ``SSL_CERT_FILE``, as an operator would add their own CA)."""
    headers = {"webhook-id": "evt_tls", "webhook-timestamp": "1", "webhook-signature": "v1,x"}
    with TlsRedisServer() as server, asyncio.Runner() as loop:
        url = f"rediss://127.0.0.1:{server.port}/0?stream=events"
        publisher = QueuePublisher(allow_private=True)
        with pytest.raises(QueueError, match="certificate verify failed"):
            loop.run(publisher.publish(url, headers, b"{}", 5))  # an unknown CA: refused
        monkeypatch.setenv("SSL_CERT_FILE", server.ca_file)
        receipt = loop.run(publisher.publish(url, headers, b'{"tls": true}', 5))
        loop.run(publisher.aclose())
        client = server.client()
        [(_, fields)] = client.xrange("events")
        client.close()
    assert "added to stream 'events'" in receipt
    assert fields[b"webhook-id"] == b"evt_tls" and fields[b"body"] == b'{"tls": true}'
