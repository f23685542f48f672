"""`batchhook verify` and `batchhook trigger`, run as a subscriber would run them."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import standardwebhooks

from tests.support.processes import run_cli

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = (
    '{"id":"evt_cli","object":"event","type":"batch.completed","created_at":1700000000,'
    '"data":{"id":"batch_1","status":"completed","output_file_id":"file-out"}}'
)


def batchhook(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={**os.environ, "BATCHHOOK_DEV": "1"}, stdin=stdin)


def pasted_webhook(body: str, secret: str = SECRET) -> str:
    """Headers, a blank line and the body, as copied from a request log."""
    now = datetime.now(tz=UTC)
    signature = standardwebhooks.Webhook(secret).sign("evt_cli", now, body)
    return (
        "POST /hook HTTP/1.1\n"
        "Content-Type: application/json\n"
        "webhook-id: evt_cli\n"
        f"webhook-timestamp: {int(now.timestamp())}\n"
        f"webhook-signature: {signature}\n"
        "\n"
        f"{body}\n"
    )


def test_verify_says_valid_for_a_correctly_signed_webhook() -> None:
    result = batchhook("verify", "--secret", SECRET, stdin=pasted_webhook(BODY))

    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    assert "invalid" not in result.stdout
    assert "evt_cli" in result.stdout


def test_verify_says_invalid_for_a_tampered_body() -> None:
    tampered = pasted_webhook(BODY).replace("file-out", "file-evil")

    result = batchhook("verify", "--secret", SECRET, stdin=tampered)

    assert result.returncode == 1
    assert "invalid" in result.stdout


def test_verify_says_invalid_for_another_secret() -> None:
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"

    result = batchhook("verify", "--secret", SECRET, stdin=pasted_webhook(BODY, other))

    assert result.returncode == 1
    assert "invalid" in result.stdout


class Subscriber:
    """A tiny webhook receiver on loopback that checks signatures with standardwebhooks."""

    def __init__(self, secret: str) -> None:
        self.received: list[dict[str, Any]] = []
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = standardwebhooks.Webhook(secret).verify(body, headers)
                except standardwebhooks.WebhookVerificationError:
                    self.send_response(400)
                else:
                    subscriber.received.append(
                        {"path": self.path, "payload": payload, "id": headers["webhook-id"]}
                    )
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # quiet: no request log on stderr
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Subscriber:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with Subscriber(SECRET) as running:
        yield running


def test_trigger_sends_a_signed_sample_event_the_subscriber_accepts(
    subscriber: Subscriber,
) -> None:
    started = int(time.time())

    result = batchhook("trigger", "batch.completed", "--url", subscriber.url, "--secret", SECRET)

    assert result.returncode == 0, result.stdout + result.stderr
    assert len(subscriber.received) == 1
    payload = subscriber.received[0]["payload"]
    assert subscriber.received[0]["path"] == "/hook"
    assert payload["type"] == "batch.completed"
    assert payload["object"] == "event"
    assert payload["created_at"] >= started
    assert payload["data"]["status"] == "completed"
    assert "output_file_id" in payload["data"]
    assert "error_file_id" in payload["data"]
    assert "HTTP 204" in result.stdout


def test_two_triggers_send_two_webhook_ids_so_a_deduplicating_receiver_keeps_both(
    subscriber: Subscriber,
) -> None:
    for _ in range(2):
        result = batchhook("trigger", "webhook.test", "--url", subscriber.url, "--secret", SECRET)
        assert result.returncode == 0, result.stdout + result.stderr

    first, second = subscriber.received
    assert first["id"] != second["id"]
    assert first["id"] == first["payload"]["id"] and second["id"] == second["payload"]["id"]
    assert first["id"] in result.stdout or second["id"] in result.stdout


def test_trigger_exits_non_zero_when_the_subscriber_rejects_the_signature() -> None:
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    with Subscriber(other) as strict:
        result = batchhook("trigger", "batch.failed", "--url", strict.url, "--secret", SECRET)

    assert result.returncode != 0
    assert strict.received == []
    assert "HTTP 400" in result.stdout


def test_trigger_refuses_an_unknown_event_type(subscriber: Subscriber) -> None:
    result = batchhook("trigger", "batch.exploded", "--url", subscriber.url, "--secret", SECRET)

    assert result.returncode != 0
    assert "unknown event type" in result.stderr
    assert "batch.exploded" in result.stderr
    assert "Traceback" not in result.stderr
    assert subscriber.received == []


def test_trigger_refuses_a_secret_that_is_not_whsec(subscriber: Subscriber) -> None:
    result = batchhook("trigger", "batch.completed", "--url", subscriber.url, "--secret", "hunter2")

    assert result.returncode != 0
    assert "whsec_" in result.stderr
    assert "Traceback" not in result.stderr
    assert subscriber.received == []
