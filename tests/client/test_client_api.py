"""The sync client against the running API: every call, its typed answers and errors."""

from __future__ import annotations

import time

import httpx
import pytest
from batchhook_client import (
    ActivityMinute,
    AuthenticationError,
    BatchhookError,
    Client,
    ConflictError,
    Connection,
    NotFoundError,
    UnprocessableEntityError,
    webhooks,
)

from tests.e2e.flows import new_batch_id
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until
from worker.models import DEFAULT_EVENT_TYPES, EVENT_TYPES


def test_connections_are_created_listed_read_and_deleted(
    client: Client, provider: ProviderStub
) -> None:
    conn = client.connections.create(
        provider="openai",
        api_key=provider.api_key,
        base_url=provider.base_url,
        headers={"x-trace-id": "trace-1", "x-custom-key": "hidden-value"},
        params={"team": "nightly"},
    )

    assert conn.id.startswith("conn_")
    assert (conn.provider, conn.base_url) == ("openai", provider.base_url)
    assert conn.headers == {"x-trace-id": "trace-1", "x-custom-key": "[redacted]"}
    assert conn.params == {"team": "nightly"}
    assert conn.has_webhook_secret is False
    assert (conn.rate_limit_pauses, conn.paused_until, conn.last_discovery_at) == (0, None, None)
    assert provider.api_key not in repr(conn) and provider.api_key not in str(conn.raw)
    assert conn.id in {c.id for c in client.connections.list()}
    assert client.connections.get(conn.id) == conn

    deleted = client.connections.delete(conn.id)
    assert (deleted.id, deleted.deleted) == (conn.id, True)
    with pytest.raises(NotFoundError):
        client.connections.get(conn.id)


def test_an_endpoint_goes_through_its_whole_life(client: Client, receiver: Receiver) -> None:
    ep = client.endpoints.create(
        url=receiver.url,
        events=["batch.completed", "webhook.test"],
        description="client test",
        rate_limit=5,
        progress_step=25,
        expiring_lead_time=600,
        result_links_ttl=120,
        include_results_summary=False,
        format="standard",
    )
    assert ep.id.startswith("ep_") and ep.secret and ep.secret.startswith("whsec_")
    assert ep.secret not in repr(ep)
    assert ep.events == ("batch.completed", "webhook.test")
    assert (ep.description, ep.rate_limit, ep.progress_step) == ("client test", 5, 25)
    assert (ep.expiring_lead_time, ep.result_links_ttl) == (600, 120)
    assert (ep.include_results_summary, ep.format, ep.disabled) == (False, "standard", False)

    shown = client.endpoints.get(ep.id)
    assert shown.secret is None
    assert shown.health is not None and shown.health.circuit == "closed"
    assert shown.health.attempts_1h is not None and shown.health.attempts_1h.succeeded == 0
    assert (shown.health.success_rate_1h, shown.health.throttle_per_s) == (None, 5)
    assert ep.id in {e.id for e in client.endpoints.list()}

    changed = client.endpoints.update(ep.id, description="renamed", rate_limit=None)
    assert (changed.description, changed.rate_limit) == ("renamed", None)
    assert changed.events == ep.events

    receiver.secret = ep.secret
    sent = client.endpoints.send_test(ep.id)
    assert sent.type == "webhook.test" and [d.endpoint_id for d in sent.deliveries] == [ep.id]
    assert isinstance(webhooks.parse_event(sent.payload), webhooks.WebhookTest)
    [hook] = receiver.wait_for(1)
    event = webhooks.verify(hook.body, hook.headers, ep.secret)
    assert isinstance(event, webhooks.WebhookTest)
    assert (event.id, event.data.endpoint_id) == (sent.id, ep.id)

    def counted() -> tuple[ActivityMinute, ...] | None:
        found = client.endpoints.activity(ep.id, minutes=5)
        return found if sum(m.succeeded for m in found) else None

    minutes = wait_until(counted, message="the attempt was never counted")
    assert len(minutes) == 5
    assert (sum(m.succeeded for m in minutes), sum(m.failed for m in minutes)) == (1, 0)

    rotated = client.endpoints.rotate_secret(ep.id)
    assert rotated.secret.startswith("whsec_") and rotated.secret != ep.secret
    assert (rotated.previous_secret_expires_at or 0) > time.time()

    recovery = client.endpoints.recover(ep.id, since=time.time() - 60)
    assert recovery.id.startswith("rcv_") and recovery.endpoint_id == ep.id
    finished = wait_until(
        lambda: (
            (r := client.endpoints.get_recovery(ep.id, recovery.id)).status == "completed" and r
        ),
        message="the recovery never completed",
    )
    assert finished.redelivered in (0, None)  # the test event was delivered: nothing to resend

    assert client.endpoints.delete(ep.id).deleted is True
    with pytest.raises(NotFoundError):
        client.endpoints.get(ep.id)


def test_a_watched_batch_is_shown_with_its_events_and_can_be_redelivered(
    client: Client, connection: Connection, provider: ProviderStub, receiver: Receiver
) -> None:
    ep = client.endpoints.create(url=receiver.url)
    receiver.secret = ep.secret
    batch_id = new_batch_id()
    provider.set_batch(batch_id, "completed")

    first = client.watch_batch(
        batch_id=batch_id,
        connection_id=connection.id,
        endpoint_ids=[ep.id],
        metadata={"job": "nightly"},
        poll_interval=1,
    )
    again = client.batches.watch(batch_id=batch_id, connection_id=connection.id)

    assert (first.created, again.created) == (True, False)
    assert (first.batch_id, first.watching, first.metadata) == (batch_id, True, {"job": "nightly"})
    assert first.endpoint_ids == (ep.id,) and first.poll_interval == 1
    [hook] = receiver.wait_for(1)
    assert batch_id in {b.batch_id for b in client.batches.list()}
    batch = wait_until(lambda: (b := client.batches.get(batch_id)).events and b)
    assert (batch.status, batch.normalized_status) == ("completed", "completed")
    assert batch.provider == "openai"
    assert batch.output_file_id == f"file-out-{batch_id}"
    assert batch.request_counts is not None and batch.request_counts.total > 0
    assert batch.history and batch.history[-1].status == "completed"
    assert batch.events is not None and [e.type for e in batch.events] == ["batch.completed"]

    [listed] = client.events.list(batch_id=batch_id)
    assert listed.id == hook.headers["webhook-id"] == batch.history[-1].event_id
    assert client.events.list_page(batch_id=batch_id, type="batch.failed").data == ()
    event = wait_until(lambda: (e := client.events.get(listed.id)).deliveries[0].attempts and e)
    [delivery] = event.deliveries
    assert (delivery.endpoint_id, delivery.state) == (ep.id, "succeeded")
    assert delivery.attempts[0].status_code == 200
    assert delivery.attempts[0].latency_ms is not None
    typed = webhooks.parse_event(event.payload)
    assert isinstance(typed, webhooks.BatchCompleted) and typed.data.id == batch_id

    redelivered = client.events.redeliver(listed.id, endpoint_id=ep.id)
    assert redelivered.id == listed.id
    [_, again_hook] = receiver.wait_for(2)
    assert again_hook.headers["webhook-id"] == listed.id

    stopped = client.batches.unwatch(batch_id)
    assert (stopped.id, stopped.deleted) == (batch_id, True)
    with pytest.raises(NotFoundError):
        client.batches.get(batch_id)


def test_the_event_catalog_lists_every_type(client: Client) -> None:
    types = {t.name: t for t in client.event_types.list()}

    assert set(types) == EVENT_TYPES
    assert {n for n, t in types.items() if t.subscription == "default"} == set(DEFAULT_EVENT_TYPES)
    assert all(t.description and t.sample["type"] == n for n, t in types.items())


def test_a_missing_object_raises_not_found_with_the_apis_error(
    client: Client, stack: Stack, token: str
) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.endpoints.get("ep_does_not_exist")

    error = caught.value
    assert (error.status_code, error.type) == (404, "not_found")
    assert "ep_does_not_exist" in error.message
    assert error.body == {"error": {"type": "not_found", "message": error.message}}
    raw = httpx.get(
        f"{stack.api_url}/v1/endpoints/ep_does_not_exist",
        headers={"authorization": f"Bearer {token}"},
    )
    if "x-request-id" in raw.headers:  # the API's request ids are being added
        assert error.request_id and error.request_id in str(error)
    else:
        assert error.request_id is None
    assert isinstance(error, BatchhookError)


def test_a_bad_token_raises_authentication_error_without_showing_the_token(stack: Stack) -> None:
    token = "bh_not_a_real_token_0123456789"
    with Client(stack.api_url, token) as client, pytest.raises(AuthenticationError) as caught:
        client.connections.get("conn_x")

    assert (caught.value.status_code, caught.value.type) == (401, "authentication_error")
    assert token not in str(caught.value) and token not in repr(caught.value.body)


def test_bad_input_raises_unprocessable_entity_without_showing_the_key(client: Client) -> None:
    with pytest.raises(UnprocessableEntityError) as caught:
        client.connections.create(provider="no-such-provider", api_key="sk-secret-key-123")

    assert (caught.value.status_code, caught.value.type) == (422, "invalid_request_error")
    assert "provider" in caught.value.message
    assert "sk-secret-key-123" not in str(caught.value)
    with pytest.raises(UnprocessableEntityError):
        client.watch_batch(batch_id="batch_x", connection_id="conn_x", poll_interval=0)


def test_a_batch_watched_through_another_connection_is_a_conflict(
    client: Client, connection: Connection, provider: ProviderStub
) -> None:
    batch_id = new_batch_id()
    provider.set_batch(batch_id, "in_progress")
    other = client.connections.create(
        provider="openai", api_key=provider.api_key, base_url=provider.base_url
    )
    client.watch_batch(batch_id=batch_id, connection_id=connection.id)

    with pytest.raises(ConflictError) as caught:
        client.watch_batch(batch_id=batch_id, connection_id=other.id)

    assert caught.value.status_code == 409
    client.batches.unwatch(batch_id)
    client.connections.delete(other.id)


def test_a_client_given_its_own_http_client_leaves_it_open(stack: Stack, token: str) -> None:
    with httpx.Client() as own:
        with Client(stack.api_url, token, http_client=own) as client:
            assert {t.name for t in client.event_types.list()} == EVENT_TYPES
        assert not own.is_closed
        assert own.get(f"{stack.api_url}/healthz").status_code == 200
