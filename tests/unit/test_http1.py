"""The worker's provider client (``worker.http1``) against a real server on loopback that
answers each request with scripted bytes: how answers are framed, which connections are
kept, and how each failure reaches the poll."""

from __future__ import annotations

import asyncio
import concurrent.futures
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.tls import make_tls_files
from worker.destinations import provider_client, tls_context
from worker.errors import ProviderUnavailable
from worker.http1 import ConnectError, Http1Client, LocalProtocolError
from worker.models import Connection
from worker.providers import retrieve

BODY = b'{"id": "batch_1", "object": "batch", "status": "in_progress"}'


def answer(body: bytes = BODY, *, head: str = "") -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{head}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (BODY[:20], BODY[20:]))
    + b"0\r\n\r\n"
)
TO_CLOSE = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY  # ends when the server closes


@dataclass
class ScriptedServer:
    """Answers the n-th request it receives with ``script[n]`` (then closes the connection
    if the entry ends with ``CLOSE``); records each request's head and body."""

    script: Sequence[bytes]
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    closed_by_client: int = 0
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self, tls: ssl.SSLContext | None = None) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = _content_length(head)
                self.requests.append(head + await reader.readexactly(length))
                reply = self.script[len(self.requests) - 1]
                writer.write(reply.removesuffix(CLOSE))
                await writer.drain()
                if reply.endswith(CLOSE):
                    break
        except asyncio.IncompleteReadError:
            self.closed_by_client += 1
        finally:
            writer.close()

    def close(self) -> None:
        assert self.server is not None
        self.server.close()


CLOSE = b"<close>"


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            return int(value)
    return 0


def conn_to(port: int, headers: dict[str, str] | None = None) -> Connection:
    return Connection(
        id="conn_1", tenant="acme", provider="openai", base_url=f"http://127.0.0.1:{port}/v1",
        api_key="sk-test", headers=headers or {}, params=None, created_at=0.0,
    )  # fmt: skip


def with_server(
    script: Sequence[bytes], body: Callable[[ScriptedServer, Http1Client, int], Awaitable[None]]
) -> ScriptedServer:
    async def run() -> ScriptedServer:
        server = ScriptedServer(script)
        port = await server.start()
        try:
            async with provider_client(limit=4, allow_private=True) as client:
                await body(server, client, port)
        finally:
            server.close()
        return server

    return asyncio.run(run())


@pytest.mark.parametrize(
    "reply", [answer(), CHUNKED, TO_CLOSE + CLOSE], ids=["content-length", "chunked", "to-close"]
)
def test_an_answer_is_read_whole_however_it_is_framed(reply: bytes) -> None:
    async def poll(server: ScriptedServer, client: Http1Client, port: int) -> None:
        snapshot = await retrieve(client, conn_to(port), "batch_1", timeout_s=5)
        assert snapshot.status == "in_progress"

    server = with_server([reply], poll)
    head = server.requests[0].decode()
    assert head.startswith("GET /v1/batches/batch_1 HTTP/1.1\r\n")
    assert f"\r\nhost: 127.0.0.1:{server.port}\r\n" in head.lower()
    assert "\r\nauthorization: bearer sk-test\r\n" in head.lower()


def test_an_https_provider_is_called_over_verified_tls(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(files.cert_file, files.key_file)
    trusting = ssl.create_default_context(cafile=str(files.ca_file))

    async def run() -> list[str]:
        server = ScriptedServer([answer()])
        port = await server.start(server_tls)
        url = f"https://localhost:{port}/v1/batches/batch_1"
        outcomes = []
        for tls in (tls_context(), trusting):  # the public roots do not know the test CA
            async with Http1Client(limit=2, keepalive_s=5, tls=tls) as client:
                try:
                    outcomes.append(str((await client.get(url, {}, timeout_s=5)).status_code))
                except ConnectError as exc:
                    outcomes.append(f"{exc.kind}: {'CERTIFICATE_VERIFY_FAILED' in str(exc)}")
        server.close()
        return outcomes

    assert asyncio.run(run()) == ["ConnectError: True", "200"]


def test_calls_one_after_another_share_one_connection_until_the_server_says_close() -> None:
    async def three_polls(server: ScriptedServer, client: Http1Client, port: int) -> None:
        for _ in range(3):
            await retrieve(client, conn_to(port), "batch_1", timeout_s=5)

    server = with_server([answer(), answer(head="Connection: close\r\n"), answer()], three_polls)
    assert len(server.requests) == 3
    assert server.connections == 2  # the second answer's "close" was honoured


def test_a_connection_idle_past_the_keep_alive_is_closed_by_the_client() -> None:
    async def poll_then_idle(server: ScriptedServer, client: Http1Client, port: int) -> None:
        await client.get(f"http://127.0.0.1:{port}/v1/batches/b", {}, timeout_s=5)
        async with asyncio.timeout(5):
            while server.closed_by_client == 0:
                await asyncio.sleep(0.02)

    async def run() -> ScriptedServer:
        server = ScriptedServer([answer()])
        port = await server.start()
        client = Http1Client(limit=2, keepalive_s=0.2, tls=tls_context())
        await poll_then_idle(server, client, port)
        await client.aclose()
        server.close()
        return server

    assert asyncio.run(run()).closed_by_client == 1


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (b"SMTP ready\r\n\r\n", "RemoteProtocolError"),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", "RemoteProtocolError"),
        (answer()[:-10] + CLOSE, "ReadError"),
    ],
    ids=["not http", "head too large", "cut short"],
)
def test_a_broken_answer_fails_the_poll_with_its_kind(reply: bytes, kind: str) -> None:
    async def poll(server: ScriptedServer, client: Http1Client, port: int) -> None:
        with pytest.raises(ProviderUnavailable, match=f"^{kind} calling openai"):
            await retrieve(client, conn_to(port), "batch_1", timeout_s=5)

    with_server([reply], poll)


def test_a_header_with_a_line_break_is_never_sent() -> None:
    async def poll(server: ScriptedServer, client: Http1Client, port: int) -> None:
        smuggling = conn_to(port, headers={"X-Team": "a\r\nX-Injected: 1"})
        with pytest.raises(ProviderUnavailable, match=r"^LocalProtocolError") as failed:
            await retrieve(client, smuggling, "batch_1", timeout_s=5)
        assert isinstance(failed.value.__cause__, LocalProtocolError)

    server = with_server([answer()], poll)
    assert server.requests == [] and server.connections == 0


def test_bytes_after_an_answer_keep_its_connection_from_being_used_again() -> None:
    async def two_polls(server: ScriptedServer, client: Http1Client, port: int) -> None:
        for _ in range(2):
            await retrieve(client, conn_to(port), "batch_1", timeout_s=5)

    server = with_server([answer() + answer(b"{}"), answer()], two_polls)
    assert server.connections == 2


class RefusingExecutor(concurrent.futures.ThreadPoolExecutor):
    """The event loop's thread pool, refusing work: a name lookup would need it."""

    def submit(self, *args: object, **kwargs: object) -> concurrent.futures.Future[object]:
        raise RuntimeError("the loop's thread pool was asked to look up a name")


@pytest.mark.parametrize("guarded", [False, True], ids=["private-allowed", "egress-guarded"])
def test_an_ip_address_is_connected_to_without_a_name_lookup(guarded: bool) -> None:
    async def run() -> tuple[int, str]:
        asyncio.get_running_loop().set_default_executor(RefusingExecutor())
        server = ScriptedServer([answer()])
        port = await server.start()
        try:
            async with provider_client(limit=2, allow_private=not guarded) as client:
                try:
                    got = await client.get(f"http://127.0.0.1:{port}/v1/batches/b", {}, timeout_s=5)
                except ConnectError as exc:
                    return 0, str(exc)
                return got.status_code, ""
        finally:
            server.close()

    status, refused = asyncio.run(run())
    if guarded:  # refused by the egress guard for being private, not for want of a lookup
        assert status == 0 and "private" in refused.lower()
    else:
        assert (status, refused) == (200, "")
