"""A fresh JetStream stream per test, on the machine's NATS at 127.0.0.1:4222.

When nothing answers there, a private ``nats-server -js`` is started on a free port with
its store in a temp dir; when there is no ``nats-server`` either, the test is skipped
(under CI: fails, see ``servers.skip_or_fail``). The stream is deleted afterwards."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nats

from tests.support.processes import ManagedProcess
from tests.support.rabbitmq import port_answers
from tests.support.servers import skip_or_fail
from tests.support.waiting import free_port, wait_until

HOST = "127.0.0.1"
NATS_PORT = 4222


@dataclass(frozen=True)
class Stream:
    """One test's stream: it stores every subject under ``{name}.``."""

    port: int
    name: str

    @property
    def server(self) -> str:
        return f"nats://{HOST}:{self.port}"

    @property
    def subject(self) -> str:
        return f"{self.name}.events"

    def messages(self) -> list[tuple[dict[str, str], bytes]]:
        """Every message the stream holds, oldest first: (headers, body)."""
        return asyncio.run(self._messages())

    async def _messages(self) -> list[tuple[dict[str, str], bytes]]:
        client = await nats.connect(self.server)
        try:
            js = client.jetstream()
            info = await js.stream_info(self.name)
            found = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                raw = await js.get_msg(self.name, seq)
                found.append((dict(raw.headers or {}), raw.data or b""))
            return found
        finally:
            await client.close()


async def _create(server: str, name: str) -> None:
    client = await nats.connect(server)
    try:
        await client.jetstream().add_stream(name=name, subjects=[f"{name}.>"])
    finally:
        await client.close()


async def _delete(server: str, name: str) -> None:
    client = await nats.connect(server)
    try:
        await client.jetstream().delete_stream(name)
    finally:
        await client.close()


@contextmanager
def _server() -> Iterator[int]:
    """The port of a NATS server with JetStream: the machine's, else a private one."""
    if port_answers(NATS_PORT):
        yield NATS_PORT
        return
    binary = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )
    if binary is None:
        skip_or_fail(f"nothing answers on {HOST}:{NATS_PORT} and nats-server is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bh-nats-") as store:
        argv = [binary, "-js", "-a", HOST, "-p", str(port), "-sd", store]
        process = ManagedProcess("nats-server", argv, dict(os.environ), Path(store))
        try:
            wait_until(lambda: port_answers(port), timeout_s=20, message="nats-server never up")
            yield port
        finally:
            process.terminate()


@contextmanager
def jetstream_stream(prefix: str = "BHTEST") -> Iterator[Stream]:
    with _server() as port:
        stream = Stream(port, f"{prefix}_{uuid.uuid4().hex[:12]}")
        asyncio.run(_create(stream.server, stream.name))
        try:
            yield stream
        finally:
            asyncio.run(_delete(stream.server, stream.name))
