"""No key or secret reaches a log line: the configured structlog pipeline and the stdlib
loggers of Celery and uvicorn, rendering as JSON and as console text."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog

from worker.logging import configure, scrub

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
API_TOKEN = "bh_3kd93jfK_d93kfj3-93kdmvkA"
CREDENTIALS = [
    WEBHOOK_SECRET,
    API_TOKEN,
    "sk-proj-abcDEF123456ghiJKL",
    "sk-ant-api03-abcdefghijkl",
    "sk_live_51H8abcdefghij",
    "gsk_8f7d6s5a4d3f2g1h",
    "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
]


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The process's logging, configured as in production, written to a buffer."""
    out = io.StringIO()
    configure("json", stream=out)
    yield out
    configure("json")


def lines_of(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line]


@pytest.mark.parametrize("credential", CREDENTIALS)
def test_a_credential_in_a_message_or_field_is_redacted(
    json_logs: io.StringIO, credential: str
) -> None:
    structlog.get_logger().warning(
        f"provider said: bad key {credential}", detail=f"seen {credential} twice"
    )
    [line] = lines_of(json_logs)
    rendered = json.dumps(line)
    assert credential not in rendered
    assert line["event"] == "provider said: bad key [redacted]"
    assert line["detail"] == "seen [redacted] twice"


def test_values_under_sensitive_names_are_hidden_at_any_depth(
    json_logs: io.StringIO,
) -> None:
    structlog.get_logger().info(
        "calling",
        api_key="plain-looking-value",
        request={"headers": {"x-portkey-api-key": "pk-value", "accept": "application/json"}},
        batches=[{"id": "batch_1", "webhook_secret": "anything"}],
    )
    [line] = lines_of(json_logs)
    assert line["api_key"] == "[redacted]"
    assert line["request"] == {
        "headers": {"x-portkey-api-key": "[redacted]", "accept": "application/json"}
    }
    assert line["batches"] == [{"id": "batch_1", "webhook_secret": "[redacted]"}]


def test_ids_and_ordinary_words_are_left_alone(json_logs: io.StringIO) -> None:
    ids = "batch_abc123 evt_0f9e conn_12ab34 ep_99 file-xyz789 task_id tokens_used=3"
    structlog.get_logger().info(ids, status_code=401, outcome="failed")
    [line] = lines_of(json_logs)
    assert line["event"] == ids
    assert line["status_code"] == 401


def test_key_value_pairs_and_url_passwords_are_redacted() -> None:
    assert scrub("GET /v1/batches?api_key=abc123&limit=2") == (
        "GET /v1/batches?api_key=[redacted]&limit=2"
    )
    assert scrub('{"token": "t0k3n"}') == '{"token": "[redacted]"}'
    assert scrub("https://user:hunter2@example.com/hook") == ("https://[redacted]@example.com/hook")
    assert scrub("Authorization: Bearer abc.def-ghi") == "Authorization: [redacted]"


def test_exception_text_is_redacted(json_logs: io.StringIO) -> None:
    try:
        raise RuntimeError(f"refused key {WEBHOOK_SECRET}")
    except RuntimeError:
        structlog.get_logger().exception("poll_failed")
    [line] = lines_of(json_logs)
    assert WEBHOOK_SECRET not in str(line["exception"])
    assert "RuntimeError: refused key [redacted]" in str(line["exception"])


def test_stdlib_loggers_go_through_the_same_redaction(
    json_logs: io.StringIO,
) -> None:
    logging.getLogger("celery.worker").warning("connection to %s failed", f"Bearer {API_TOKEN}")
    [line] = lines_of(json_logs)
    assert API_TOKEN not in json.dumps(line)
    assert line["event"] == "connection to [redacted] failed"


def test_console_rendering_is_redacted_too(json_logs: io.StringIO) -> None:
    out = io.StringIO()
    configure("console", stream=out)
    structlog.get_logger().info("rotated", secret=WEBHOOK_SECRET, note=f"old {WEBHOOK_SECRET}")
    text = out.getvalue()
    assert "rotated" in text
    assert WEBHOOK_SECRET not in text


def test_json_lines_keep_what_json_has_no_type_for_readable(json_logs: io.StringIO) -> None:
    structlog.get_logger().info(
        "odd_values", batch_id="batch_ü", counts={1: 2}, seen={"a"}, what=object()
    )
    [line] = lines_of(json_logs)
    assert line["batch_id"] == "batch_ü"
    assert line["counts"] == {"1": 2}
    assert line["seen"] == ["a"]
    assert str(line["what"]).startswith("<object object at")


def test_each_line_carries_its_utc_time_to_the_microsecond(json_logs: io.StringIO) -> None:
    before = datetime.now(UTC)
    for n in range(3):
        structlog.get_logger().info("tick", n=n)
    after = datetime.now(UTC)

    stamps = [str(line["timestamp"]) for line in lines_of(json_logs)]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", s) for s in stamps)
    times = [datetime.fromisoformat(s) for s in stamps]
    assert before - timedelta(microseconds=1) <= times[0] <= times[1] <= times[2] <= after
