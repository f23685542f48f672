"""A provider that stops answering part-way is given up on within the poll timeout,
through the worker's own provider client: before its headers, or in the middle of its body."""

from __future__ import annotations

import asyncio
import time

import pytest

from worker.destinations import provider_client
from worker.errors import ProviderUnavailable
from worker.models import Connection
from worker.providers import retrieve

TIMEOUT_S = 0.5
BODY = b'{"id": "batch_1", "object": "batch", "status": "in_progress"}'


async def stalling_server(stall_after: bytes) -> tuple[asyncio.Server, asyncio.Event]:
    """Answers every request with ``stall_after`` and then nothing, until released."""
    release = asyncio.Event()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(stall_after)
        await writer.drain()
        await release.wait()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0), release


HEADERS = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n"
)


@pytest.mark.parametrize(
    "sent", [b"", HEADERS + BODY[:10]], ids=["before its headers", "in its body"]
)
def test_a_stalled_answer_fails_the_poll_within_the_timeout(sent: bytes) -> None:
    async def run() -> tuple[BaseException, float]:
        server, release = await stalling_server(sent)
        port = server.sockets[0].getsockname()[1]
        conn = Connection(
            id="conn_1", tenant="acme", provider="openai", base_url=f"http://127.0.0.1:{port}/v1",
            api_key="sk-test", headers={}, params=None, created_at=0.0,
        )  # fmt: skip
        started = time.monotonic()
        async with provider_client(limit=4, allow_private=True) as client:
            with pytest.raises(ProviderUnavailable) as failed:
                await retrieve(client, conn, "batch_1", timeout_s=TIMEOUT_S)
        release.set()
        server.close()
        return failed.value, time.monotonic() - started

    failure, took_s = asyncio.run(run())
    assert "Timeout calling openai" in str(failure)
    assert TIMEOUT_S <= took_s < TIMEOUT_S + 2


@pytest.mark.parametrize(
    "sent", [b"", HEADERS + BODY[:10]], ids=["before its headers", "in its body"]
)
def test_a_stall_on_a_kept_connection_fails_the_poll_within_the_timeout(sent: bytes) -> None:
    """The second poll goes over the connection the first one left open (one connection
    is all the server sees) and is given up on at the timeout all the same."""

    async def run() -> tuple[BaseException, float, int]:
        release, connections = asyncio.Event(), 0

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            await reader.readuntil(b"\r\n\r\n")
            writer.write(HEADERS + BODY)  # the first poll: answered whole, kept alive
            await reader.readuntil(b"\r\n\r\n")
            writer.write(sent)
            await writer.drain()
            await release.wait()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        conn = Connection(
            id="conn_1", tenant="acme", provider="openai", base_url=f"http://127.0.0.1:{port}/v1",
            api_key="sk-test", headers={}, params=None, created_at=0.0,
        )  # fmt: skip
        async with provider_client(limit=4, allow_private=True) as client:
            await retrieve(client, conn, "batch_1", timeout_s=TIMEOUT_S)
            started = time.monotonic()
            with pytest.raises(ProviderUnavailable) as failed:
                await retrieve(client, conn, "batch_1", timeout_s=TIMEOUT_S)
            took_s = time.monotonic() - started
        release.set()
        server.close()
        return failed.value, took_s, connections

    failure, took_s, connections = asyncio.run(run())
    assert "Timeout calling openai" in str(failure)
    assert TIMEOUT_S <= took_s < TIMEOUT_S + 2
    assert connections == 1


def test_a_call_waiting_for_a_free_connection_slot_times_out_too() -> None:
    """With every slot held by a stalled call, the next call's timeout runs while it
    waits for one."""

    async def run() -> float:
        server, release = await stalling_server(b"")
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/batches/b"
        async with provider_client(limit=1, allow_private=True) as client:
            stalled = asyncio.create_task(client.get(url, {}, timeout_s=10))
            await asyncio.sleep(0)  # its first step takes the one slot (none was taken)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await client.get(url, {}, timeout_s=TIMEOUT_S)
            took_s = time.monotonic() - started
            stalled.cancel()
        release.set()
        server.close()
        return took_s

    assert TIMEOUT_S <= asyncio.run(run()) < TIMEOUT_S + 2
