"""The sender caps the POSTs in flight, and an attempt's timeout counts only its own
exchange: a fan-out larger than the pool does not time out against a healthy receiver."""

from __future__ import annotations

import asyncio
import socket
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


def test_a_receiver_that_closed_its_kept_connection_between_tasks_still_gets_the_post() -> None:
    """Each worker task is one run of the event loop; a receiver whose keep-alive is
    shorter than the sender's closes the connection while the loop is stopped, and nothing
    reads that close. The next POST goes out on a fresh connection instead of failing."""
    release, closed = threading.Event(), threading.Event()
    connections: list[socket.socket] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # listener closed: the test is over
                return
            connections.append(conn)
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                release.wait(5.0)  # until the sender's loop has stopped
                conn.shutdown(socket.SHUT_RDWR)  # keep-alive over, as a receiver's can be
                closed.set()

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    with asyncio.Runner() as runner:
        sender = runner.run(_sender())
        first = runner.run(sender.post(url, {}, b"{}", 5.0))
        release.set()
        assert closed.wait(5.0)
        second = runner.run(sender.post(url, {}, b"{}", 5.0))
        runner.run(sender.aclose())
    listener.close()

    assert (first.status_code, first.error) == (200, None)
    assert (second.status_code, second.error) == (200, None)
    assert len(connections) == 2


async def _sender() -> WebhookSender:
    return WebhookSender(allow_private=True, concurrency=2)
