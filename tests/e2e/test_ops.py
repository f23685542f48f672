"""Running batchhook: health and metrics, status, inbound webhooks, logs."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import standardwebhooks
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.flows import connect, new_batch_id, subscribe, watch
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

INBOUND_SECRET = "whsec_" + "aW5ib3VuZC1zZWNyZXQtZm9yLXRlc3Rz"
CANARY_KEY = "sk-canary-must-never-be-logged-4242"
CANARY_ENDPOINT_SECRET = "whsec_" + "Y2FuYXJ5LWVuZHBvaW50LXNlY3JldC0xMjM0"


def scrape(api_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every batchhook sample of ``/metrics``, keyed by name and labels."""
    text = httpx.get(f"{api_url}/metrics").text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("batchhook_")
    }


def test_health_readiness_and_metrics(stack: Stack, api: httpx.Client, receiver: Receiver) -> None:
    assert httpx.get(f"{stack.api_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{stack.api_url}/readyz").status_code == 200
    before = scrape(stack.api_url)

    def grew(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return scrape(stack.api_url).get(key, 0.0) - before.get(key, 0.0)

    with ProviderStub("openai", api_key="sk-metrics") as stub:
        conn = connect(api, stub)
        subscribe(api, receiver)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "completed")
        watch(api, batch_id, conn["id"])
        receiver.wait_for(1)
        failing = new_batch_id()
        stub.set_batch(failing, "in_progress")
        stub.fail_next(failing, 500)
        watch(api, failing, conn["id"])
        wait_until(lambda: grew("batchhook_polls_total", outcome="retry") >= 1)

    succeeded = ("batchhook_delivery_attempts_total", {"outcome": "succeeded"})
    wait_until(lambda: grew(succeeded[0], **succeeded[1]) >= 1)
    assert grew("batchhook_polls_total", outcome="changed") >= 1
    assert grew("batchhook_transitions_total", status="completed") >= 1
    assert grew("batchhook_events_created_total") >= 1
    assert grew("batchhook_schedule_lag_seconds_count") >= 1
    assert grew("batchhook_delivery_attempt_seconds_count") >= 1
    assert grew("batchhook_http_requests_total", method="POST", route="/v1/batches", status="201")
    assert api.get("/v1/batches/batch_never_watched").status_code == 404
    assert api.get("/v1/no-such-thing").status_code == 404
    by_template = {"method": "GET", "route": "/v1/batches/{batch_id:path}", "status": "404"}
    assert grew("batchhook_http_requests_total", **by_template) == 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert grew("batchhook_http_requests_total", **unmatched) == 1
    assert grew("batchhook_http_request_seconds_count", method="GET", route="unmatched") == 1
    after = scrape(stack.api_url)
    assert after[("batchhook_redis_up", frozenset())] == 1
    queues = {dict(labels)["queue"] for name, labels in after if name == "batchhook_queue_depth"}
    assert queues == {"batchhook.poll", "batchhook.deliver", "batchhook.tick"}
    assert ("batchhook_outbox_depth", frozenset()) in after


def test_status_lists_watched_batches_with_times_in_utc(stack: Stack, api: httpx.Client) -> None:
    with ProviderStub("openai", api_key="sk-status") as stub:
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        watch(api, batch_id, conn["id"], poll_interval=3600)
        batch = wait_until(lambda: (b := api.get(f"/v1/batches/{batch_id}").json())["status"] and b)

        result = stack.cli("status")
        assert result.returncode == 0, result.stderr
        [row] = [line for line in result.stdout.splitlines() if batch_id in line]
        assert "in_progress" in row and "yes" in row
        assert "pending deliveries" in result.stdout
        next_poll = datetime.fromtimestamp(int(batch["next_poll_at"]), UTC)
        assert next_poll.strftime("%Y-%m-%dT%H:%M:%SZ") in row  # ISO 8601, zone shown


def test_metrics_want_the_metrics_token_when_one_is_set(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    token = "metrics-token-4b1d9c"
    guarded = Stack(redis_server.url, tmp_path, BATCHHOOK_METRICS_TOKEN=token)
    guarded.start_web()
    try:
        url = f"{guarded.api_url}/metrics"
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": token}):
            refused = httpx.get(url, headers=headers)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["type"] == "authentication_error"
            assert refused.headers["www-authenticate"] == "Bearer"
            assert token not in refused.text
        allowed = httpx.get(url, headers={"authorization": f"Bearer {token}"})
        assert allowed.status_code == 200
        assert "batchhook_redis_up 1.0" in allowed.text
        assert httpx.get(f"{guarded.api_url}/readyz").status_code == 200  # not guarded
    finally:
        guarded.stop()
    assert token not in guarded.logs()


def test_an_inbound_provider_webhook_triggers_an_immediate_poll(
    stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-inbound") as stub:
        conn = connect(api, stub, webhook_secret=INBOUND_SECRET)
        subscribe(api, receiver)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        watch(api, batch_id, conn["id"], poll_interval=86400)
        wait_until(lambda: stub.requests_for(batch_id))
        stub.set_batch(batch_id, "completed")

        event = {
            "id": "evt_provider_1",
            "object": "event",
            "type": "batch.completed",
            "created_at": int(time.time()),
            "data": {"id": batch_id},
        }
        body = httpx.Request("POST", "/", json=event).content
        url = f"{stack.api_url}/v1/inbound/{conn['id']}"

        forged = httpx.post(
            url, content=body, headers=signed_headers("whsec_" + "Zm9yZ2Vk" * 4, body)
        )
        assert forged.status_code == 401, forged.text
        assert forged.json()["error"]["message"]
        stale = httpx.post(
            url, content=body, headers=signed_headers(INBOUND_SECRET, body, age_s=301)
        )
        assert stale.status_code == 401, stale.text
        assert "tolerance" in stale.json()["error"]["message"]
        assert len(stub.requests_for(batch_id)) == 1

        accepted = httpx.post(url, content=body, headers=signed_headers(INBOUND_SECRET, body))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["poll_scheduled"] is True
        [hook] = receiver.wait_for(1)
        assert hook.json["type"] == "batch.completed"
        assert hook.json["data"]["previous_status"] == "in_progress"

        again = httpx.post(url, content=body, headers=signed_headers(INBOUND_SECRET, body))
        assert again.status_code == 200, again.text
        assert again.json()["poll_scheduled"] is False, "a finished batch is not polled again"


def test_an_inbound_webhook_for_an_unseen_batch_registers_it_on_a_watch_all_connection(
    stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-inbound-all") as stub:
        subscribe(api, receiver)
        batch_id = new_batch_id()
        # Finished before the connection existed: account discovery leaves it alone ...
        stub.set_batch(batch_id, "completed", created_at=int(time.time()) - 3600)
        conn = connect(api, stub, webhook_secret=INBOUND_SECRET, watch_all=True)
        wait_until(lambda: stub.list_requests)
        assert api.get(f"/v1/batches/{batch_id}").status_code == 404

        # ... but the provider's own webhook about it is news.
        event = {"id": "evt_p2", "object": "event", "type": "batch.completed",
                 "created_at": int(time.time()), "data": {"id": batch_id}}  # fmt: skip
        body = httpx.Request("POST", "/", json=event).content
        accepted = httpx.post(
            f"{stack.api_url}/v1/inbound/{conn['id']}",
            content=body,
            headers=signed_headers(INBOUND_SECRET, body),
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["poll_scheduled"] is True
        [hook] = receiver.wait_for(1)
        assert hook.json["data"]["id"] == batch_id
        assert hook.json["type"] == "batch.completed"


def signed_headers(secret: str, body: bytes, age_s: int = 0) -> dict[str, str]:
    msg_id = "msg_inbound_1"
    now = int(time.time()) - age_s
    signed_at = datetime.fromtimestamp(now, tz=UTC)
    signature = standardwebhooks.Webhook(secret).sign(msg_id, signed_at, body.decode())
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(now),
        "webhook-signature": signature,
    }


def test_keys_secrets_and_tokens_never_reach_the_logs(stack: Stack, receiver: Receiver) -> None:
    """Every path that handles a credential runs once; then every log line of the stack's
    processes (web, worker, beat) is scanned for each of them."""
    token = stack.new_token()
    unknown_token = "bh_canary-token-that-was-never-issued-7777"
    header_key = "canary-header-credential-5151"
    with stack.client(token) as api, ProviderStub("openai", api_key=CANARY_KEY) as stub:
        conn = connect(api, stub, webhook_secret=INBOUND_SECRET, headers={"x-api-key": header_key})
        endpoint = subscribe(api, receiver, secret=CANARY_ENDPOINT_SECRET)
        receiver.respond_with(500)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "completed")
        watch(api, batch_id, conn["id"])
        receiver.wait_for(2)

        rotated = api.post(f"/v1/endpoints/{endpoint['id']}/rotate-secret").json()["secret"]
        # A provider that echoes the key it refused, as some gateways do.
        revoked = new_batch_id()
        stub.fail_next(revoked, 401, {"error": {"message": f"Incorrect API key {CANARY_KEY}"}})
        watch(api, revoked, conn["id"])
        wait_until(lambda: api.get(f"/v1/batches/{revoked}").json()["watching"] is False)

        wrong = api.post(
            "/v1/connections",
            json={"provider": "openai", "api_key": CANARY_KEY, "base_url": "ftp://nowhere"},
        )
        assert wrong.status_code in (400, 422)
        assert CANARY_KEY not in wrong.text
        denied = httpx.get(
            f"{stack.api_url}/v1/batches", headers={"authorization": f"Bearer {unknown_token}"}
        )
        assert denied.status_code == 401 and unknown_token not in denied.text
        forged = httpx.post(
            f"{stack.api_url}/v1/inbound/{conn['id']}",
            content=b"{}",
            headers={**signed_headers(CANARY_ENDPOINT_SECRET, b"{}"), "x-api-key": header_key},
        )
        assert forged.status_code == 401

    logs = stack.logs()
    assert batch_id in logs and revoked in logs, "the stack logged nothing about the batches"
    secrets = (
        CANARY_KEY,
        CANARY_ENDPOINT_SECRET,
        INBOUND_SECRET,
        token,
        unknown_token,
        header_key,
        rotated,
    )
    leaked = [(n, s[:12]) for n, line in enumerate(logs.splitlines()) for s in secrets if s in line]
    assert leaked == [], f"secrets in log lines: {leaked}"
