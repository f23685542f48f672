"""Delivery retry delays: the schedule with jitter, and Retry-After from the subscriber."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from worker.backoff import MAX_RETRY_AFTER_S, parse_retry_after_s, retry_delay_s

SCHEDULE_S = (5.0, 300.0, 1800.0)
NOW = 1_700_000_000.0


@pytest.mark.parametrize("seed", range(20))
def test_each_delay_stays_within_twenty_percent_of_the_schedule(seed: int) -> None:
    rng = random.Random(seed)

    for attempts_made, base_s in enumerate(SCHEDULE_S, start=1):
        delay_s = retry_delay_s(SCHEDULE_S, attempts_made, rng=rng)
        assert delay_s is not None
        assert base_s * 0.8 <= delay_s <= base_s * 1.2


def test_jitter_spreads_delays_instead_of_repeating_one_value() -> None:
    rng = random.Random(7)

    delays = {retry_delay_s(SCHEDULE_S, 2, rng=rng) for _ in range(50)}

    assert len(delays) > 40


def test_same_seed_gives_the_same_delay() -> None:
    first = retry_delay_s(SCHEDULE_S, 3, rng=random.Random(42))
    second = retry_delay_s(SCHEDULE_S, 3, rng=random.Random(42))

    assert first == second


def test_no_delay_is_left_after_the_last_scheduled_attempt() -> None:
    assert retry_delay_s(SCHEDULE_S, len(SCHEDULE_S), rng=random.Random(0)) is not None
    assert retry_delay_s(SCHEDULE_S, len(SCHEDULE_S) + 1, rng=random.Random(0)) is None
    assert retry_delay_s(SCHEDULE_S, 0, rng=random.Random(0)) is None
    assert retry_delay_s((), 1, rng=random.Random(0)) is None


def test_retry_after_longer_than_the_schedule_wins() -> None:
    delay_s = retry_delay_s(SCHEDULE_S, 1, retry_after_s=120.0, rng=random.Random(0))

    assert delay_s == 120.0


def test_retry_after_shorter_than_the_schedule_is_not_a_shortcut() -> None:
    delay_s = retry_delay_s(SCHEDULE_S, 2, retry_after_s=1.0, rng=random.Random(0))

    assert delay_s is not None
    assert delay_s >= 300.0 * 0.8


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after_s({"Retry-After": "120"}, now=NOW) == 120.0


def test_retry_after_as_an_http_date() -> None:
    headers = {"retry-after": formatdate(NOW + 90, usegmt=True)}

    assert parse_retry_after_s(headers, now=NOW) == pytest.approx(90.0)


def test_retry_after_date_in_the_past_means_now() -> None:
    headers = {"retry-after": formatdate(NOW - 90, usegmt=True)}

    assert parse_retry_after_s(headers, now=NOW) == 0.0


def test_retry_after_ms_is_read_in_milliseconds_and_preferred() -> None:
    headers = {"retry-after-ms": "1500", "retry-after": "60"}

    assert parse_retry_after_s(headers, now=NOW) == 1.5


def test_unreadable_retry_after_ms_falls_back_to_retry_after() -> None:
    headers = {"retry-after-ms": "soon", "retry-after": "7"}

    assert parse_retry_after_s(headers, now=NOW) == 7.0


@pytest.mark.parametrize("headers", [{}, {"retry-after": "whenever"}, {"retry-after": ""}])
def test_missing_or_unreadable_retry_after_gives_none(headers: dict[str, str]) -> None:
    assert parse_retry_after_s(headers, now=NOW) is None


def test_retry_after_is_capped_at_one_day_and_never_negative() -> None:
    assert parse_retry_after_s({"retry-after": "9999999"}, now=NOW) == MAX_RETRY_AFTER_S
    assert parse_retry_after_s({"retry-after": "-5"}, now=NOW) == 0.0


def test_parsed_retry_after_feeds_the_delay() -> None:
    retry_after_s = parse_retry_after_s(
        {"retry-after": formatdate(NOW + 600, usegmt=True)}, now=NOW
    )

    delay_s = retry_delay_s(SCHEDULE_S, 1, retry_after_s=retry_after_s, rng=random.Random(1))

    assert delay_s == pytest.approx(600.0)


@pytest.fixture
def host_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with a local time zone other than UTC, as many servers do."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("host_in_new_york")
def test_retry_after_date_in_gmt_does_not_depend_on_the_host_time_zone() -> None:
    headers = {"retry-after": formatdate(NOW + 90, usegmt=True)}

    assert parse_retry_after_s(headers, now=NOW) == pytest.approx(90.0)


@pytest.mark.parametrize(
    "header",
    [
        time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(NOW + 90)),  # asctime, RFC 9110 5.6.7
        formatdate(NOW + 90),  # "... -0000", what Python's formatdate emits by default
    ],
    ids=["asctime", "minus-zero-zone"],
)
@pytest.mark.usefixtures("host_in_new_york")
def test_retry_after_dates_without_gmt_are_read_as_utc(header: str) -> None:
    assert parse_retry_after_s({"retry-after": header}, now=NOW) == pytest.approx(90.0)
