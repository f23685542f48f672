"""The worker's provider client keeps its connections between ticks, which leave its
event loop stopped for seconds (each task is one ``asyncio.Runner.run``, as in
``worker.runtime``), and a connection the provider closed meanwhile costs no poll."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from worker.destinations import KEEPALIVE_S, provider_client
from worker.http1 import Http1Client
from worker.models import Connection, Snapshot
from worker.providers import retrieve

BODY = b'{"id": "batch_1", "object": "batch", "status": "in_progress"}'
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


class Provider:
    """Answers every request on a connection; with ``close_after_answer`` it then closes
    the connection, as a provider whose idle timeout ran out does."""

    def __init__(self, *, close_after_answer: bool) -> None:
        self.close_after_answer = close_after_answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.answers = 0
        self.closed = threading.Event()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # listener closed: the test is over
                return
            self.connections += 1
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
                if b"\r\n\r\n" not in head:
                    continue
                head = b""
                self.answers += 1  # counted before the client can have the answer
                conn.sendall(ANSWER)
                if self.close_after_answer:
                    conn.shutdown(socket.SHUT_RDWR)
                    self.closed.set()
                    return


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    server = Provider(close_after_answer=request.param)
    threading.Thread(target=server.serve, daemon=True).start()
    yield server
    server.listener.close()


def two_polls(provider: Provider, between: threading.Event | float) -> list[Snapshot]:
    """Two polls through one provider client, each in its own run of the event loop (as
    two worker tasks are), with the loop stopped in between until ``between`` (an event
    set, or seconds passed)."""
    conn = Connection(
        id="conn_1", tenant="acme", provider="openai",
        base_url=f"http://127.0.0.1:{provider.port}/v1", api_key="sk-test", headers={},
        params=None, created_at=0.0,
    )  # fmt: skip
    with asyncio.Runner() as runner:
        client = runner.run(_make_client())
        snapshots = [runner.run(retrieve(client, conn, "batch_1", timeout_s=5.0))]
        if isinstance(between, threading.Event):
            assert between.wait(5.0)
        else:
            time.sleep(between)  # the idle time is what is tested
        snapshots.append(runner.run(retrieve(client, conn, "batch_1", timeout_s=5.0)))
        runner.run(client.aclose())
    return snapshots


async def _make_client() -> Http1Client:
    return provider_client(limit=4, allow_private=True)


@pytest.mark.parametrize("provider", [False], indirect=True)
def test_a_poll_after_a_longer_wait_than_a_webhook_keep_alive_reuses_its_connection(
    provider: Provider,
) -> None:
    snapshots = two_polls(provider, KEEPALIVE_S + 1.0)
    assert [s.status for s in snapshots] == ["in_progress", "in_progress"]
    assert provider.connections == 1


@pytest.mark.parametrize("provider", [True], indirect=True)
def test_a_connection_the_provider_closed_while_idle_costs_no_poll(provider: Provider) -> None:
    snapshots = two_polls(provider, provider.closed)
    assert [s.status for s in snapshots] == ["in_progress", "in_progress"]
    assert provider.answers == 2
    assert provider.connections == 2
