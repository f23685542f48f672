"""Which claimed batches may call their provider now, and when the others come back."""

from __future__ import annotations

from dataclasses import replace

from tests.unit.test_transitions import NOW, a_watch
from worker.models import Watch
from worker.poller import plan_budget
from worker.store import Allowance


def watches(count: int) -> list[Watch]:
    """Watches polled longest ago first: w_0 at NOW-100, w_1 at NOW-99, ..."""
    return [replace(a_watch(), id=f"w_{i}", last_polled_at=NOW - 100 + i) for i in range(count)]


def next_window_slot(now: float, calls_per_second: int) -> int:
    """The first queue slot of the second after ``now``'s, as the budget script gives it."""
    return (int(now) + 1) * calls_per_second


def test_the_least_recently_polled_batches_get_the_budget() -> None:
    claimed = list(reversed(watches(5)))

    plan = plan_budget(claimed, Allowance(2, None, next_window_slot(NOW, 2)), 2)

    assert [w.id for w in plan.allowed] == ["w_0", "w_1"]
    assert set(plan.deferred) == {"w_2", "w_3", "w_4"}


def test_deferred_batches_queue_one_budget_window_after_another() -> None:
    plan = plan_budget(watches(7), Allowance(2, None, next_window_slot(NOW + 0.3, 2)), 2)

    windows = sorted(int(at) for at in plan.deferred.values())
    assert windows == [int(NOW) + 1, int(NOW) + 1, int(NOW) + 2, int(NOW) + 2, int(NOW) + 3]


def test_under_overload_the_polled_batches_wait_behind_the_deferred_ones() -> None:
    plan = plan_budget(watches(4), Allowance(2, None, next_window_slot(NOW, 2)), 2)

    assert min(plan.not_before.values()) >= max(plan.deferred.values())


def test_batches_polled_while_others_queue_elsewhere_wait_behind_that_queue() -> None:
    """Another worker's claim left batches waiting until five seconds from now: these,
    granted the whole budget of this second, still come back only after them."""
    queued_until_slot = next_window_slot(NOW + 4, 2) + 1
    plan = plan_budget(watches(2), Allowance(2, None, queued_until_slot + 1), 2)

    assert [w.id for w in plan.allowed] == ["w_0", "w_1"]
    assert plan.deferred == {}
    assert all(at >= int(NOW) + 5 for at in plan.not_before.values())


def test_with_budget_to_spare_nothing_is_deferred_or_held_back() -> None:
    plan = plan_budget(watches(3), Allowance(granted=3, paused_until=None), 10)

    assert len(plan.allowed) == 3
    assert plan.deferred == {}
    assert plan.not_before == {}


def test_a_paused_connection_defers_every_batch_until_the_pause_ends() -> None:
    plan = plan_budget(watches(3), Allowance(granted=0, paused_until=NOW + 30), 0)

    assert plan.allowed == []
    assert all(NOW + 30 <= at <= NOW + 31 for at in plan.deferred.values())
