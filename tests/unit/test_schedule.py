"""When a batch is polled next: often while young, exactly when asked, slower on errors."""

from __future__ import annotations

import random

import pytest

from worker import schedule

CREATED_AT = 1_700_000_000.0


def gap_s(age_s: float, seed: int = 0, poll_interval_s: float | None = None) -> float:
    now = CREATED_AT + age_s
    at = schedule.next_poll_at(
        now=now, created_at=CREATED_AT, poll_interval_s=poll_interval_s, rng=random.Random(seed)
    )
    return at - now


@pytest.mark.parametrize("seed", range(10))
def test_young_batches_are_polled_sooner_than_old_ones(seed: int) -> None:
    ages_s = [0, 60, 300, 1800, 7200, 86400]

    gaps_s = [gap_s(age, seed) for age in ages_s]

    assert gaps_s == sorted(gaps_s)
    assert gaps_s[0] < gaps_s[-1]


@pytest.mark.parametrize(
    ("age_s", "interval_s"),
    [(0, 5.0), (119, 5.0), (120, 15.0), (599, 15.0), (600, 30.0), (3599, 30.0), (3600, 60.0)],
)
def test_default_interval_steps_up_with_age(age_s: float, interval_s: float) -> None:
    assert schedule.default_interval_s(age_s) == interval_s


@pytest.mark.parametrize("seed", range(20))
def test_default_interval_gets_at_most_ten_percent_jitter(seed: int) -> None:
    assert 60.0 * 0.9 <= gap_s(86400, seed) <= 60.0 * 1.1


def test_batches_registered_together_do_not_poll_in_lockstep() -> None:
    gaps_s = {gap_s(10, seed) for seed in range(20)}

    assert len(gaps_s) > 15


@pytest.mark.parametrize("age_s", [0, 500, 86400])
def test_explicit_poll_interval_is_kept_exactly(age_s: float) -> None:
    assert gap_s(age_s, poll_interval_s=17.0) == 17.0


def test_error_backoff_doubles_with_each_consecutive_error() -> None:
    gaps_s = [
        schedule.next_poll_after_error_at(
            now=CREATED_AT, consecutive_errors=n, base_interval_s=10.0, retry_after_s=None
        )
        - CREATED_AT
        for n in range(1, 6)
    ]

    assert gaps_s == [10.0, 20.0, 40.0, 80.0, 160.0]


def test_error_backoff_is_capped() -> None:
    at = schedule.next_poll_after_error_at(
        now=CREATED_AT, consecutive_errors=30, base_interval_s=10.0, retry_after_s=None
    )

    assert at - CREATED_AT == schedule.MAX_ERROR_BACKOFF_S


def test_error_backoff_waits_at_least_the_providers_retry_after() -> None:
    at = schedule.next_poll_after_error_at(
        now=CREATED_AT, consecutive_errors=1, base_interval_s=5.0, retry_after_s=42.0
    )

    assert at - CREATED_AT == 42.0


def test_retry_after_beyond_the_cap_is_still_honoured() -> None:
    at = schedule.next_poll_after_error_at(
        now=CREATED_AT, consecutive_errors=30, base_interval_s=10.0, retry_after_s=3600.0
    )

    assert at - CREATED_AT == 3600.0


def test_short_retry_after_does_not_shorten_the_backoff() -> None:
    at = schedule.next_poll_after_error_at(
        now=CREATED_AT, consecutive_errors=4, base_interval_s=10.0, retry_after_s=1.0
    )

    assert at - CREATED_AT == 80.0
