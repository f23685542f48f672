"""Endpoint health decisions, the 404 grace and the attempt's response excerpt."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.unit.test_transitions import NOW, a_watch, an_endpoint
from worker import delivery, health, transitions
from worker.errors import ProviderRejected
from worker.models import ENDPOINT_DISABLED, WATCH_FAILED

POLICY = health.CircuitPolicy(threshold=5, cooldown_s=30.0, max_cooldown_s=3600.0)


@pytest.mark.parametrize(
    ("failures", "expected_s"),
    [(0, None), (4, None), (5, 30.0), (6, 60.0), (7, 120.0), (20, 3600.0), (10_000, 3600.0)],
)
def test_the_circuit_opens_at_the_threshold_and_its_cooldown_doubles_up_to_the_cap(
    failures: int, expected_s: float | None
) -> None:
    assert health.cooldown_s(failures, POLICY) == expected_s


def test_a_zero_threshold_turns_the_breaker_off() -> None:
    off = replace(POLICY, threshold=0)
    assert health.cooldown_s(50, off) is None
    assert health.circuit_state(50, NOW + 10, off, NOW) == health.CLOSED


def test_circuit_state_is_open_during_the_cooldown_then_half_open() -> None:
    assert health.circuit_state(2, 0.0, POLICY, NOW) == health.CLOSED
    assert health.circuit_state(5, NOW + 1, POLICY, NOW) == health.OPEN
    assert health.circuit_state(5, NOW - 1, POLICY, NOW) == health.HALF_OPEN


def test_an_endpoint_is_disabled_only_after_failing_for_the_whole_period() -> None:
    five_days_s = 432000.0
    assert not health.should_disable(None, now=NOW, disable_after_s=five_days_s)
    assert not health.should_disable(NOW - five_days_s + 1, now=NOW, disable_after_s=five_days_s)
    assert health.should_disable(NOW - five_days_s, now=NOW, disable_after_s=five_days_s)
    assert not health.should_disable(NOW - 10 * five_days_s, now=NOW, disable_after_s=0)


def test_throttled_deliveries_are_spread_over_the_next_seconds() -> None:
    throttled = health.Admission(granted=2, retry_at=NOW + 1, rate_per_s=2, reason="rate limited")
    first_second = int(NOW) + 1
    assert health.deferred_at(throttled, 5, NOW) == [
        first_second,
        first_second,
        first_second + 1,
        first_second + 1,
        first_second + 2,
    ]
    open_circuit = health.Admission(0, NOW + 30, 2, "circuit open")
    assert health.deferred_at(open_circuit, 2, NOW) == [NOW + 30, NOW + 30]


def test_endpoint_disabled_goes_only_to_other_subscribed_enabled_endpoints() -> None:
    dead = an_endpoint("ep_dead", events=(ENDPOINT_DISABLED,))
    listening = an_endpoint("ep_ops", events=(ENDPOINT_DISABLED,))
    default = an_endpoint("ep_default")
    off = replace(an_endpoint("ep_off", events=(ENDPOINT_DISABLED,)), disabled=True)

    event = health.disabled_event(dead, "gone quiet", [dead, listening, default, off], NOW)

    assert event is not None
    assert event.type == ENDPOINT_DISABLED and event.endpoint_ids == ("ep_ops",)
    data = json.loads(event.body)["data"]
    assert data == {
        "id": "ep_dead",
        "endpoint_id": "ep_dead",
        "url": dead.url,
        "reason": "gone quiet",
        "disabled_at": int(NOW),
    }
    assert health.disabled_event(dead, "x", [dead, default], NOW) is None


def not_found() -> ProviderRejected:
    return ProviderRejected("openai answered 404: no such batch", batch_id="b", status_code=404)


def test_a_404_within_the_grace_is_retried_and_remembers_when_it_started() -> None:
    first = transitions.plan_error(
        a_watch(), not_found(), provider="openai", endpoints=[], now=NOW, not_found_grace_s=600
    )
    assert first.event is None and first.not_found_since == NOW
    assert first.next_poll_at is not None and NOW < first.next_poll_at <= NOW + 600

    later = a_watch(errors=3, not_found_since=NOW - 100)
    again = transitions.plan_error(
        later, not_found(), provider="openai", endpoints=[], now=NOW, not_found_grace_s=600
    )
    assert again.event is None and again.not_found_since == NOW - 100
    assert again.next_poll_at is not None and again.next_poll_at <= NOW + 500


def test_a_404_past_the_grace_fails_the_watch() -> None:
    stale = a_watch(errors=9, not_found_since=NOW - 600)
    endpoints = [an_endpoint("ep_1", events=(WATCH_FAILED,))]
    record = transitions.plan_error(
        stale, not_found(), provider="openai", endpoints=endpoints, now=NOW, not_found_grace_s=600
    )
    assert record.next_poll_at is None
    assert record.event is not None and record.event.type == WATCH_FAILED


@pytest.mark.parametrize("status_code", [401, 403])
def test_a_revoked_key_fails_the_watch_at_once_whatever_the_grace(status_code: int) -> None:
    error = ProviderRejected("revoked", batch_id="b", status_code=status_code)
    record = transitions.plan_error(
        a_watch(), error, provider="openai", endpoints=[], now=NOW, not_found_grace_s=600
    )
    assert record.next_poll_at is None and record.event is not None


def test_a_404_after_other_errors_starts_its_own_grace() -> None:
    watch = a_watch(errors=4, not_found_since=None)
    grace = transitions.within_not_found_grace(watch, not_found(), grace_s=600, now=NOW)
    assert grace == NOW


def test_the_response_excerpt_is_bounded_and_decoded_leniently() -> None:
    body = b"\xff\xfe" + "é".encode() * 400
    text = delivery.excerpt(body)
    assert text.startswith("\ufffd\ufffd")
    assert len(text.encode("utf-8", errors="surrogatepass")) <= delivery.RESPONSE_EXCERPT_BYTES + 4
    answer = delivery.Answer(500, {}, 3.0, "HTTP 500", text)
    outcome = delivery.classify(answer, attempt=1, now=NOW, schedule_s=(5.0,))
    assert outcome.record["response"] == text and outcome.record["status_code"] == 500
