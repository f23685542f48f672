"""The sender caps the POSTs in flight, and an attempt's timeout counts only its own
exchange: a fan-out larger than the pool does not time out against a healthy receiver."""

from __future__ import annotations

import asyncio
import threading

from tests.support.http_server import Answer, LoopbackServer, Request
from worker.delivery import RESPONSE_EXCERPT_BYTES, WebhookSender
from worker.delivery import Answer as Attempted


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


def test_an_endless_answer_is_cut_at_the_excerpt_without_waiting_for_the_rest() -> None:
    """A receiver that announces a huge body and sends only its start: the attempt keeps
    the first RESPONSE_EXCERPT_BYTES and ends at once, not at the timeout."""

    async def run() -> Attempted:
        release = asyncio.Event()

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 2000)
            await writer.drain()
            await release.wait()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sender = WebhookSender(allow_private=True, concurrency=2)
        try:
            attempted = await sender.post(f"http://127.0.0.1:{port}/hook", {}, b"{}", 5.0)
        finally:
            release.set()
            await sender.aclose()
            server.close()
        return attempted

    attempted = asyncio.run(run())
    assert attempted.status_code == 200 and attempted.error is None
    assert attempted.response == "x" * RESPONSE_EXCERPT_BYTES
    assert attempted.latency_ms < 5000
