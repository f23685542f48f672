"""The sender caps the POSTs in flight, and an attempt's timeout counts only its own
exchange: a fan-out larger than the pool does not time out against a healthy receiver."""

from __future__ import annotations

import asyncio
import threading

from tests.support.http_server import Answer, LoopbackServer, Request
from worker.delivery import Answer as Attempted
from worker.delivery import WebhookSender


def post_all(url: str, count: int, *, concurrency: int, timeout_s: float) -> list[Attempted]:
    async def run() -> list[Attempted]:
        sender = WebhookSender(allow_private=True, concurrency=concurrency)
        try:
            return await asyncio.gather(
                *(sender.post(url, {}, b"{}", timeout_s) for _ in range(count))
            )
        finally:
            await sender.aclose()

    return asyncio.run(run())


def test_more_posts_than_slots_wait_for_one_and_do_not_time_out() -> None:
    most_in_flight = 0
    lock = threading.Lock()

    def handle(request: Request) -> Answer:
        nonlocal most_in_flight
        with lock:
            most_in_flight = max(most_in_flight, server.in_flight)
        return Answer(200, b"ok", delay_s=0.2)

    with LoopbackServer(handle) as server:
        # 8 answers of 0.2 s through 2 slots take 0.8 s: far past the 0.5 s timeout,
        # were it counted from when each POST was asked for.
        answers = post_all(f"{server.url}/hook", 8, concurrency=2, timeout_s=0.5)

    assert [a.status_code for a in answers] == [200] * 8
    assert all(a.error is None and a.latency_ms < 500 for a in answers)
    assert most_in_flight == 2


def test_a_slow_answer_still_times_out() -> None:
    with LoopbackServer(lambda request: Answer(200, delay_s=1.0)) as server:
        [answer] = post_all(f"{server.url}/hook", 1, concurrency=2, timeout_s=0.2)

    assert (answer.status_code, answer.error) == (None, "timeout")
