"""Standard Webhooks signing: what receivers using standard libraries can verify."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import openai
import pytest
import standardwebhooks

from worker import events, signing
from worker.models import Endpoint

MSG_ID = "evt_1"


def openai_shaped_body(created_at: int) -> bytes:
    event = {
        "id": MSG_ID,
        "object": "event",
        "type": "batch.completed",
        "created_at": created_at,
        "data": {
            "id": "batch_1",
            "status": "completed",
            "previous_status": "finalizing",
            "output_file_id": "file-out",
            "error_file_id": None,
            "request_counts": {"total": 3, "completed": 2, "failed": 1},
            "provider": "openai",
            "connection_id": "conn_1",
            "metadata": {"job": "nightly"},
            "batch": {"id": "batch_1", "object": "batch", "status": "completed"},
        },
    }
    return json.dumps(event, separators=(",", ":")).encode()


def signed(secrets: list[str], body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return signing.webhook_headers(secrets, MSG_ID, ts, body)


def test_standardwebhooks_library_verifies_our_signature() -> None:
    secret = signing.new_secret()
    body = openai_shaped_body(int(time.time()))

    payload = standardwebhooks.Webhook(secret).verify(body, signed([secret], body))

    assert payload["data"]["output_file_id"] == "file-out"


def test_headers_carry_id_timestamp_and_json_content_type() -> None:
    secret = signing.new_secret()
    body = b'{"id":"evt_1"}'

    headers = signing.webhook_headers([secret], MSG_ID, 1_700_000_000, body)

    assert headers["webhook-id"] == MSG_ID
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["content-type"] == "application/json"
    assert headers["webhook-signature"] == signing.sign(secret, MSG_ID, 1_700_000_000, body)
    assert headers["webhook-signature"].startswith("v1,")


def test_openai_sdk_unwraps_our_event_and_keeps_the_extra_data_fields() -> None:
    secret = signing.new_secret()
    body = openai_shaped_body(int(time.time()))
    client = openai.OpenAI(api_key="x", webhook_secret=secret)

    event = client.webhooks.unwrap(body, signed([secret], body))

    assert event.type == "batch.completed"
    assert event.id == MSG_ID
    assert event.data.id == "batch_1"
    data = event.data.to_dict()
    assert data["output_file_id"] == "file-out"
    assert data["error_file_id"] is None
    assert data["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
    assert data["previous_status"] == "finalizing"
    assert data["metadata"] == {"job": "nightly"}
    assert data["batch"] == {"id": "batch_1", "object": "batch", "status": "completed"}


@pytest.mark.parametrize(
    "event_type", ["batch.failed", "batch.in_progress", "batch.watch_failed", "webhook.test"]
)
def test_openai_sdk_unwraps_every_event_type_we_send(event_type: str) -> None:
    secret = signing.new_secret()
    now = int(time.time())
    data = {"id": "batch_1", "status": "failed", "error_file_id": "file-err"}
    body = events.event_body("evt_2", event_type, now, data).encode()
    headers = signing.webhook_headers([secret], "evt_2", now, body)

    event = openai.OpenAI(api_key="x", webhook_secret=secret).webhooks.unwrap(body, headers)

    assert event.type == event_type
    assert event.created_at == now


def test_openai_sdk_rejects_a_signature_made_with_another_secret() -> None:
    body = openai_shaped_body(int(time.time()))
    headers = signed([signing.new_secret()], body)
    client = openai.OpenAI(api_key="x", webhook_secret=signing.new_secret())

    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(body, headers)


def test_during_rotation_receivers_holding_either_secret_verify() -> None:
    new, old = signing.new_secret(), signing.new_secret()
    body = openai_shaped_body(int(time.time()))
    headers = signed([new, old], body)

    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        standardwebhooks.Webhook(secret).verify(body, headers)
        openai.OpenAI(api_key="x", webhook_secret=secret).webhooks.unwrap(body, headers)
        signing.verify(secret, headers, body, now=time.time())
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(signing.new_secret()).verify(body, headers)


def test_rotated_out_secret_signs_only_until_it_expires() -> None:
    endpoint = Endpoint(
        id="ep_1",
        tenant="t",
        url="https://example.com/hook",
        events=("batch.completed",),
        description="",
        secret="whsec_new",
        old_secret="whsec_old",
        old_secret_expires_at=1000.0,
        disabled=False,
        disabled_reason="",
        created_at=0.0,
    )

    assert endpoint.signing_secrets(now=999.0) == ["whsec_new", "whsec_old"]
    assert endpoint.signing_secrets(now=1001.0) == ["whsec_new"]


def test_verify_accepts_a_signature_made_by_standardwebhooks() -> None:
    secret = signing.new_secret()
    body = openai_shaped_body(1_700_000_000)
    moment = datetime.fromtimestamp(1_700_000_000, tz=UTC)
    signature = standardwebhooks.Webhook(secret).sign(MSG_ID, moment, body.decode())
    headers = {
        "Webhook-Id": MSG_ID,
        "Webhook-Timestamp": "1700000000",
        "Webhook-Signature": signature,
    }

    signing.verify(secret, headers, body, now=1_700_000_010)


def test_verify_rejects_a_tampered_body() -> None:
    secret = signing.new_secret()
    body = openai_shaped_body(1_700_000_000)
    headers = signed([secret], body, 1_700_000_000)
    tampered = body.replace(b"file-out", b"file-evil")

    with pytest.raises(signing.InvalidSignature):
        signing.verify(secret, headers, tampered, now=1_700_000_000)


def test_verify_rejects_the_wrong_secret() -> None:
    body = openai_shaped_body(1_700_000_000)
    headers = signed([signing.new_secret()], body, 1_700_000_000)

    with pytest.raises(signing.InvalidSignature):
        signing.verify(signing.new_secret(), headers, body, now=1_700_000_000)


@pytest.mark.parametrize("skew_s", [301, -301])
def test_verify_rejects_a_timestamp_outside_five_minutes(skew_s: int) -> None:
    secret = signing.new_secret()
    body = openai_shaped_body(1_700_000_000)
    headers = signed([secret], body, 1_700_000_000)

    signing.verify(secret, headers, body, now=1_700_000_000 + 299)
    with pytest.raises(signing.InvalidSignature, match="tolerance"):
        signing.verify(secret, headers, body, now=1_700_000_000 + skew_s)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_verify_rejects_a_webhook_missing_a_header(missing: str) -> None:
    secret = signing.new_secret()
    body = b"{}"
    headers = signed([secret], body, 1_700_000_000)
    del headers[missing]

    with pytest.raises(signing.InvalidSignature, match="missing"):
        signing.verify(secret, headers, body, now=1_700_000_000)


def test_new_secret_is_whsec_followed_by_base64_of_24_random_bytes() -> None:
    first, second = signing.new_secret(), signing.new_secret()

    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 24
    assert first != second
    assert signing.is_valid_secret(first)


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "whsec_",
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"too short").decode(),
        base64.b64encode(b"x" * 24).decode(),  # no whsec_ prefix
        "sk-" + base64.b64encode(b"x" * 24).decode(),
    ],
)
def test_is_valid_secret_rejects_junk(junk: str) -> None:
    assert not signing.is_valid_secret(junk)
