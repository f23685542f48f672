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
