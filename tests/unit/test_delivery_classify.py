"""What a subscriber's answer means for the delivery: done, retry later, or give up."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from worker.delivery import Answer, classify

NOW = 1_700_000_000.0
SCHEDULE_S = (5.0, 300.0, 1800.0)


def answer(
    status_code: int | None, headers: dict[str, str] | None = None, error: str | None = None
) -> Answer:
    return Answer(status_code=status_code, headers=headers or {}, latency_ms=12.34, error=error)


@pytest.mark.parametrize("status_code", [200, 201, 202, 204, 299])
def test_any_2xx_answer_is_a_success(status_code: int) -> None:
    outcome = classify(answer(status_code), attempt=1, now=NOW, schedule_s=SCHEDULE_S)

    assert outcome.outcome == "succeeded"
    assert outcome.next_attempt_at is None
    assert not outcome.disable_endpoint


def test_attempt_record_shows_time_status_latency_and_error() -> None:
    outcome = classify(answer(503, error="HTTP 503"), attempt=2, now=NOW, schedule_s=SCHEDULE_S)

    assert outcome.record["attempt"] == 2
    assert outcome.record["at"] == NOW
    assert outcome.record["status_code"] == 503
    assert outcome.record["latency_ms"] == 12.3
    assert outcome.record["error"] == "HTTP 503"
    assert outcome.record["next_attempt_at"] == outcome.next_attempt_at


def test_410_gone_fails_the_delivery_and_disables_the_endpoint() -> None:
    outcome = classify(answer(410), attempt=1, now=NOW, schedule_s=SCHEDULE_S)

    assert outcome.outcome == "failed"
    assert outcome.disable_endpoint
    assert outcome.next_attempt_at is None
    assert "410" in outcome.record["error"]


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_server_error_is_retried_within_the_jittered_schedule(attempt: int) -> None:
    for _ in range(20):
        outcome = classify(answer(500), attempt=attempt, now=NOW, schedule_s=SCHEDULE_S)

        assert outcome.outcome == "retry"
        assert outcome.next_attempt_at is not None
        delay_s = outcome.next_attempt_at - NOW
        base_s = SCHEDULE_S[attempt - 1]
        assert base_s * 0.8 <= delay_s <= base_s * 1.2
        assert not outcome.disable_endpoint


@pytest.mark.parametrize("status_code", [301, 302, 400, 401, 404, 429])
def test_other_non_2xx_answers_are_retried(status_code: int) -> None:
    outcome = classify(answer(status_code), attempt=1, now=NOW, schedule_s=SCHEDULE_S)

    assert outcome.outcome == "retry"
    assert not outcome.disable_endpoint


def test_retry_after_longer_than_the_schedule_wins() -> None:
    outcome = classify(
        answer(429, {"Retry-After": "120"}), attempt=1, now=NOW, schedule_s=SCHEDULE_S
    )

    assert outcome.outcome == "retry"
    assert outcome.next_attempt_at == NOW + 120.0


def test_retry_after_date_longer_than_the_schedule_wins() -> None:
    headers = {"retry-after": formatdate(NOW + 900, usegmt=True)}

    outcome = classify(answer(503, headers), attempt=1, now=NOW, schedule_s=SCHEDULE_S)

    assert outcome.next_attempt_at == pytest.approx(NOW + 900.0)


def test_retry_after_shorter_than_the_schedule_does_not_hurry_the_retry() -> None:
    outcome = classify(answer(503, {"retry-after": "1"}), attempt=2, now=NOW, schedule_s=SCHEDULE_S)

    assert outcome.next_attempt_at is not None
    assert outcome.next_attempt_at - NOW >= 300.0 * 0.8


def test_failure_on_the_last_attempt_fails_the_delivery() -> None:
    last_attempt = len(SCHEDULE_S) + 1

    outcome = classify(answer(500), attempt=last_attempt, now=NOW, schedule_s=SCHEDULE_S)

    assert outcome.outcome == "failed"
    assert outcome.next_attempt_at is None
    assert not outcome.disable_endpoint
    assert outcome.record["status_code"] == 500


def test_success_on_the_last_attempt_still_succeeds() -> None:
    outcome = classify(answer(200), attempt=len(SCHEDULE_S) + 1, now=NOW, schedule_s=SCHEDULE_S)

    assert outcome.outcome == "succeeded"


@pytest.mark.parametrize("error", ["timeout", "ConnectError: connection refused"])
def test_timeout_or_connection_error_is_retried(error: str) -> None:
    outcome = classify(answer(None, error=error), attempt=1, now=NOW, schedule_s=SCHEDULE_S)

    assert outcome.outcome == "retry"
    assert outcome.next_attempt_at is not None
    assert 4.0 <= outcome.next_attempt_at - NOW <= 6.0
    assert outcome.record["status_code"] is None
    assert outcome.record["error"] == error
