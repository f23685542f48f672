"""A provider's rate limits hold for a whole connection, across every worker."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from tests.e2e.flows import connect, new_batch_id, watch
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

RATE_LIMITED = {"error": {"message": "Rate limit reached", "type": "requests", "code": None}}


def test_a_429_holds_back_every_batch_of_its_connection_until_retry_after(
    api: httpx.Client,
) -> None:
    with ProviderStub("openai", api_key="sk-429") as stub:
        conn = connect(api, stub)
        limited, neighbour = new_batch_id(), new_batch_id()
        stub.set_batch(neighbour, "in_progress")
        watch(api, neighbour, conn["id"])
        wait_until(lambda: len(stub.requests_for(neighbour)) >= 2)

        stub.set_batch(limited, "in_progress")
        stub.fail_next(limited, 429, RATE_LIMITED, headers={"retry-after": "4"})
        watch(api, limited, conn["id"])
        limited_at = wait_until(lambda: stub.requests_for(limited))[0].received_at
        wait_until(
            lambda: any(r.received_at > limited_at + 1 for r in stub.requests_for(neighbour)),
            timeout_s=20,
        )

        neighbour_calls = [r.received_at - limited_at for r in stub.requests_for(neighbour)]
        after_429 = [t for t in neighbour_calls if t > 0.5]
        assert min(after_429) >= 3.5, f"neighbour polled {min(after_429):.1f}s after the 429"
        assert stub.mismatches == []


def test_a_connection_shows_the_429_pauses_of_its_polls(api: httpx.Client) -> None:
    with ProviderStub("openai", api_key="sk-429-shown") as stub:
        conn = connect(api, stub)
        fresh = (conn["rate_limit_pauses"], conn["paused_until"], conn["last_paused_at"])
        assert fresh == (0, None, None)
        path = f"/v1/connections/{conn['id']}"
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        stub.fail_next(batch_id, 429, RATE_LIMITED, headers={"retry-after": "20"})
        watch(api, batch_id, conn["id"])

        limited_at = wait_until(lambda: stub.requests_for(batch_id))[0].received_at
        shown = wait_until(lambda: (c := api.get(path).json())["rate_limit_pauses"] and c)

        assert shown["rate_limit_pauses"] == 1
        assert shown["paused_until"] == pytest.approx(limited_at + 20, abs=2)
        assert shown["last_paused_at"] == pytest.approx(limited_at, abs=2)
        [listed] = [c for c in api.get("/v1/connections").json()["data"] if c["id"] == conn["id"]]
        assert listed == shown
        assert stub.api_key not in api.get("/v1/connections").text


def test_every_worker_shares_one_call_budget_per_connection(
    own_stack: tuple[Stack, RedisServer],
) -> None:
    stack, _ = own_stack
    stack.env["BATCHHOOK_PROVIDER_CALLS_PER_SECOND"] = "3"
    stack.start_web()
    stack.start_worker("worker-1")
    stack.start_worker("worker-2")
    stack.start_beat()
    with ProviderStub("openai", api_key="sk-budget") as stub, stack.client() as api:
        conn = connect(api, stub)
        batch_ids = [new_batch_id() for _ in range(12)]
        for batch_id in batch_ids:
            stub.set_batch(batch_id, "in_progress")
            watch(api, batch_id, conn["id"])

        # Four times the budget is wanted (a poll a second each): every batch still gets
        # its turn, none polled again and again while others wait for their second poll.
        counts = wait_until(lambda: _when_all_polled_twice(stub, batch_ids), timeout_s=30)
        assert max(counts) <= 4, counts

        times = sorted(r.received_at for b in batch_ids for r in stub.requests_for(b))
        # Three seconds' budget in any three clock seconds, and the calls granted at the very
        # end of the second before, which may arrive in the first of them.
        for start in range(int(times[0]), int(times[-1]) + 1):
            in_window = [t for t in times if start <= t < start + 3]
            assert len(in_window) <= 3 * 3 + 3, f"{len(in_window)} calls in 3 s from {start}"
        span_s = times[-1] - times[0]
        assert len(times) <= 3 * (span_s + 2), f"{len(times)} calls in {span_s:.1f}s"


def _when_all_polled_twice(stub: ProviderStub, batch_ids: list[str]) -> list[int] | None:
    counts = [len(stub.requests_for(b)) for b in batch_ids]
    return counts if min(counts) >= 2 else None


def test_paced_429s_do_not_grow_the_batchs_own_back_off(api: httpx.Client) -> None:
    """Six 429s that each say "come back in 1 s" cost six seconds, not an exponential
    back-off (1, 2, 4, ... 32 s); the 5xx answers after them still back off."""
    with ProviderStub("openai", api_key="sk-paced") as stub:
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        stub.fail_next(batch_id, 429, RATE_LIMITED, headers={"retry-after": "1"}, times=6)
        watch(api, batch_id, conn["id"])

        calls = wait_until(lambda: _at_least(stub.requests_for(batch_id), 8), timeout_s=30)

        gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(calls)]
        assert max(gaps[:7]) < 4, f"gaps between polls after paced 429s: {gaps}"
        stub.fail_next(batch_id, 500, {"error": {"message": "boom"}}, times=3)
        first = len(stub.requests_for(batch_id))
        calls = wait_until(lambda: _at_least(stub.requests_for(batch_id), first + 4), timeout_s=30)
        backed_off = [b.received_at - a.received_at for a, b in itertools.pairwise(calls)]
        assert max(backed_off[first - 1 :]) >= 3.5, f"5xx answers did not back off: {backed_off}"


def _at_least(items: list[Any], count: int) -> list[Any] | None:
    return items if len(items) >= count else None
