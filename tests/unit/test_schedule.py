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


# The adaptive schedule: a batch an hour into its run, unless a test says otherwise.
RUN_STARTED_AT = CREATED_AT + 60.0
NOW = RUN_STARTED_AT + 3600.0


def observe(
    status: str = "in_progress",
    *,
    now: float = NOW,
    done: int | None = 1_000,
    total: int = 10_000,
    previous_done: int | None = None,
    expires_at: float | None = CREATED_AT + 86_400.0,
    status_since: float | None = RUN_STARTED_AT,
) -> schedule.Observation:
    """A batch ``done`` of ``total`` requests in, at a steady rate unless told otherwise."""
    progress = None if done is None else schedule.Progress(at=now, done=done, total=total)
    previous = None
    if previous_done is not None:
        previous = schedule.Progress(at=now - 300.0, done=previous_done, total=total)
    return schedule.Observation(
        now=now,
        status=status,
        watch_created_at=CREATED_AT,
        batch_created_at=CREATED_AT,
        expires_at=expires_at,
        progress=progress,
        previous_progress=previous,
        status_since=status_since,
    )


def adaptive_gap_s(obs: schedule.Observation, seed: int = 0) -> float:
    return schedule.adaptive_next_poll_at(obs, rng=random.Random(seed)) - obs.now


@pytest.mark.parametrize("status", ["validating", "finalizing", "cancelling"])
def test_short_phases_are_polled_sooner_than_a_run_far_from_its_end(status: str) -> None:
    short = observe(status, now=NOW, status_since=NOW - 30.0, done=None)

    assert adaptive_gap_s(short) < adaptive_gap_s(observe())


@pytest.mark.parametrize("status", ["validating", "finalizing", "cancelling", "unknown"])
def test_a_short_phase_that_drags_on_is_still_polled_every_minute_or_so(status: str) -> None:
    obs = observe(status, status_since=NOW - 7200.0, done=None)

    assert adaptive_gap_s(obs) <= schedule.SHORT_PHASE_MAX_S * (1 + schedule.JITTER_FRACTION)


def test_a_run_is_polled_more_often_as_its_estimated_end_nears() -> None:
    # 10,000 requests at 2.5 a second: done at 4000 s; polled at 1000, 3000, 3900 and 3990 s
    gaps_s = [
        schedule.adaptive_interval_s(observe(now=RUN_STARTED_AT + t, done=int(2.5 * t)))
        for t in (1000.0, 3000.0, 3900.0, 3990.0)
    ]

    assert gaps_s == sorted(gaps_s, reverse=True)
    assert gaps_s[0] >= 10 * gaps_s[-1]


def test_a_run_close_to_its_estimated_end_is_polled_at_the_estimate_not_before_it() -> None:
    # 2.5 requests a second: done at 4000 s; 40 s before, a share of the distance (12 s)
    # would be under the floor: the next poll goes at the estimate itself
    obs = observe(now=RUN_STARTED_AT + 3960.0, done=int(2.5 * 3960))

    assert schedule.estimated_completion_at(obs) == pytest.approx(RUN_STARTED_AT + 4000.0)
    assert schedule.adaptive_interval_s(obs) == pytest.approx(40.0)
    for seed in range(10):
        assert 36.0 <= adaptive_gap_s(obs, seed) <= 44.0  # the estimate, within the jitter


def test_the_estimate_is_the_remaining_requests_at_the_rate_seen_so_far() -> None:
    obs = observe(done=2_000, total=10_000)  # 2,000 in 3600 s: 8,000 more take 14,400 s

    assert schedule.estimated_completion_at(obs) == pytest.approx(NOW + 14_400.0)


def test_a_faster_recent_rate_brings_the_estimate_forward() -> None:
    steady = observe(done=2_000)
    speeding_up = observe(done=2_000, previous_done=1_000)  # 1,000 in the last 300 s

    assert schedule.estimated_completion_at(speeding_up) == pytest.approx(NOW + 2_400.0)
    assert schedule.adaptive_interval_s(speeding_up) < schedule.adaptive_interval_s(steady)


def test_a_steady_run_confirming_its_estimate_is_polled_less_often() -> None:
    # 2.5 requests a second: 10,000 done at 4000 s, as the previous poll (300 s ago) said
    steady = observe(now=RUN_STARTED_AT + 3000.0, done=7_500, previous_done=6_750)
    # the same estimate now, but the previous poll's counts put the end ~140 s sooner
    wavering = observe(now=RUN_STARTED_AT + 3000.0, done=7_500, previous_done=7_000)

    assert schedule.estimated_completion_at(steady) == pytest.approx(RUN_STARTED_AT + 4000.0)
    assert schedule.estimated_completion_at(wavering) == pytest.approx(RUN_STARTED_AT + 4000.0)
    assert schedule.adaptive_interval_s(steady) == pytest.approx(
        schedule.CONFIRMED_APPROACH_SHARE * 1000.0
    )
    assert schedule.adaptive_interval_s(wavering) == pytest.approx(schedule.APPROACH_SHARE * 1000.0)


def test_a_run_just_begun_is_not_left_alone_on_a_shaky_estimate() -> None:
    obs = observe(now=RUN_STARTED_AT + 20.0, done=1, status_since=RUN_STARTED_AT)

    assert schedule.adaptive_interval_s(obs) <= 20.0 * schedule.EVIDENCE_SHARE


@pytest.mark.parametrize(
    "obs",
    [
        observe(),
        observe(done=9_999),
        observe(now=NOW + 40 * 86_400.0, expires_at=None),
        observe(now=RUN_STARTED_AT, status_since=RUN_STARTED_AT),
        observe("validating", status_since=NOW),
        observe("unknown", status_since=None),
        observe("completed"),
    ],
    ids=[
        "mid-run",
        "nearly-done",
        "weeks-running",
        "just-started",
        "validating",
        "unknown",
        "done",
    ],
)
@pytest.mark.parametrize("seed", range(10))
def test_polls_are_never_beyond_the_cap_nor_below_the_floor(
    obs: schedule.Observation, seed: int
) -> None:
    assert schedule.MIN_INTERVAL_S <= adaptive_gap_s(obs, seed) <= schedule.MAX_INTERVAL_S


def test_every_request_finished_is_polled_like_finalizing() -> None:
    done = observe(done=10_000, status_since=NOW - 30.0)

    assert adaptive_gap_s(done) <= 30.0 * schedule.SHORT_PHASE_SHARE * (
        1 + schedule.JITTER_FRACTION
    )


def test_stalled_progress_backs_off_with_time_running_not_to_the_floor() -> None:
    stalled = observe(done=0, previous_done=0)

    assert schedule.adaptive_interval_s(stalled) == pytest.approx(schedule.RUNNING_SHARE * 3600.0)


@pytest.mark.parametrize("expires_at", [None, CREATED_AT + 86_400.0])
def test_unknown_totals_back_off_with_time_running(expires_at: float | None) -> None:
    early = observe(now=RUN_STARTED_AT + 120.0, total=0, done=0, expires_at=expires_at)
    late = observe(now=RUN_STARTED_AT + 7200.0, total=0, done=0, expires_at=expires_at)

    assert adaptive_gap_s(early) < adaptive_gap_s(late) <= schedule.MAX_INTERVAL_S


def test_a_run_nearing_its_expiry_is_polled_before_it_expires() -> None:
    obs = observe(done=100, expires_at=NOW + 60.0)  # the counts say it will run for days

    assert adaptive_gap_s(obs) < 60.0
    assert adaptive_gap_s(obs) < adaptive_gap_s(observe(done=100)) / 10


def test_adaptive_polls_of_batches_registered_together_are_spread() -> None:
    gaps_s = {adaptive_gap_s(observe(), seed) for seed in range(20)}

    assert len(gaps_s) > 15


def test_next_poll_at_delegates_to_the_adaptive_schedule_given_an_observation() -> None:
    obs = observe()

    at = schedule.next_poll_at(
        now=NOW, created_at=CREATED_AT, poll_interval_s=None, rng=random.Random(3), observation=obs
    )

    assert at == schedule.adaptive_next_poll_at(obs, rng=random.Random(3))


def test_explicit_poll_interval_wins_over_an_observation() -> None:
    at = schedule.next_poll_at(
        now=NOW, created_at=CREATED_AT, poll_interval_s=17.0, observation=observe("validating")
    )

    assert at == NOW + 17.0


def polls_of_a_fixed_interval(interval_s: float, late_by_s: list[float]) -> list[float]:
    """When each poll happens, if each starts ``late_by_s`` after it was due."""
    due, polled = CREATED_AT, []
    for late_s in late_by_s:
        now = due + late_s
        polled.append(now)
        due = schedule.next_poll_at(
            now=now, created_at=CREATED_AT, poll_interval_s=interval_s, due_at=due
        )
    return polled


def test_a_fixed_interval_does_not_drift_when_every_poll_starts_late() -> None:
    polled = polls_of_a_fixed_interval(1.0, [0.4] * 100)

    assert polled[-1] - polled[0] == pytest.approx(99.0)


def test_a_poll_later_than_its_interval_counts_the_next_from_now() -> None:
    """A poll that fell a whole interval behind is not followed by a burst to catch up."""
    at = schedule.next_poll_at(
        now=NOW, created_at=CREATED_AT, poll_interval_s=1.0, due_at=NOW - 1.5
    )

    assert at == NOW + 1.0


def test_an_early_poll_counts_the_next_from_now() -> None:
    """An inbound webhook makes a batch due before its time: the next poll is a whole
    interval after this one, not sooner."""
    at = schedule.next_poll_at(
        now=NOW, created_at=CREATED_AT, poll_interval_s=30.0, due_at=NOW + 20.0
    )

    assert at == NOW + 30.0
