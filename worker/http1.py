"""The worker's HTTP client (provider calls and webhook POSTs): HTTP/1.1 over kept-alive
connections, answers parsed by httptools (llhttp, in C), nothing else.

A poll is one small GET, and at scale the client was most of a poll's CPU: aiohttp spends
~0.11-0.16 ms of this machine's CPU per loopback GET on its request and response objects,
timers and tracing hooks (bench/results/http-floor.md). ``Http1Client`` does what the
worker needs and no more: GET and POST with a whole-call timeout, an idle pool per origin
(a kept connection with anything to read is not reused: the server has closed it), a GET
sent again once on a fresh connection when a kept one turns out to have been closed
anyway, an answer's body cut at ``max_body_bytes``, no redirects, no cookies, no
compression asked for.

The egress guard is the one ``destinations`` gives aiohttp: unless private addresses are
allowed, names resolve through ``PublicOnlyResolver`` and every socket is opened by
``public_socket``, IP literals included.
"""

from __future__ import annotations

import asyncio
import functools
import select
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

import httptools
from aiohttp import AddrInfoType
from aiohttp.abc import AbstractResolver

from worker.records import frozen

USER_AGENT = "batchhook"
MAX_HEAD_BYTES = 64 * 1024


class HttpClientError(Exception):
    """The call failed before a whole answer arrived; ``kind`` names the failure as httpx
    would (``ConnectError``, ``ReadError``, ``RemoteProtocolError``, ...)."""

    kind = "HttpClientError"


class ConnectError(HttpClientError):
    kind = "ConnectError"


class ReadError(HttpClientError):
    """The connection closed, or failed, before the answer was whole."""

    kind = "ReadError"


class RemoteProtocolError(HttpClientError):
    """The answer was not HTTP/1.1 as this client reads it."""

    kind = "RemoteProtocolError"


class LocalProtocolError(HttpClientError):
    """The request could not be sent as asked (a header with a line break in it)."""

    kind = "LocalProtocolError"


@frozen
class Answer:
    status_code: int
    headers: Mapping[str, str]  # names in lower case; repeated ones joined with ", "
    body: bytes


# The egress guard's hooks have aiohttp's shapes, so ``PublicOnlyResolver``, ``public_socket``
# and tests' name services serve both clients.
SocketFactory = Callable[[AddrInfoType], socket.socket]
Origin = tuple[str, str, int]  # scheme, host, port


class _Connection(asyncio.Protocol):
    """One connection, one request at a time; its answer is parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[Answer] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._max_body_bytes: int | None = None
        self._head_bytes = 0  # received while the head was incomplete
        self._header_bytes = 0  # of the headers parsed
        self._headers_done = False
        self._received = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream socket's is one

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            ours = exc.__context__  # raised by one of the callbacks below
            self._fail(ours if isinstance(ours, HttpClientError) else RemoteProtocolError(exc))
            return
        if not self._headers_done:
            self._head_bytes += len(data)  # a head still arriving
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(RemoteProtocolError("answer head too large"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._headers_done and self._reads_to_close():
            self.on_message_complete()
        self._fail(ReadError("the server closed the connection" + (f": {exc}" if exc else "")))

    # httptools' callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEAD_BYTES:
            raise RemoteProtocolError("answer head too large")
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        seen = self._headers.get(key)
        self._headers[key] = text if seen is None else f"{seen}, {text}"

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._body_bytes += len(body)
        cap = self._max_body_bytes
        if cap is not None and self._body_bytes > cap and self._answer is not None:
            # As much as the caller keeps: the answer ends here, and its connection
            # (the rest of the body still on its way) is not used again.
            if not self._answer.done():
                status = self.parser.get_status_code()
                body_kept = b"".join(self._body)[:cap]
                self._answer.set_result(Answer(status, self._headers, body_kept))
            self.closed = True

    def on_message_complete(self) -> None:
        answer = self._answer
        if answer is None or answer.done():  # an answer nobody asked for: not used again
            self.closed = True
            return
        status = self.parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue): the real one follows
            self._reset()
            return
        if not self.parser.should_keep_alive():
            self.closed = True
        answer.set_result(Answer(status, self._headers, b"".join(self._body)))

    # the client's side

    @property
    def received(self) -> bool:
        """Whether any byte of the current answer has arrived."""
        return self._received

    def send(self, request: bytes, max_body_bytes: int | None) -> asyncio.Future[Answer]:
        self._reset()
        self._max_body_bytes = max_body_bytes
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._answer

    def dropped(self) -> bool:
        """Whether the idle connection has something to read: the server's close (or
        stray bytes) that the event loop has not seen yet, because it was not running
        (a worker's loop is stopped between tasks). Asked before a kept connection is
        reused, as urllib3 does, so a POST is not written into a closed connection."""
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return True
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))

    def close(self) -> None:
        self.closed = True
        self.transport.close()

    def _reset(self) -> None:
        self._headers, self._body, self._body_bytes = {}, [], 0
        self._head_bytes = self._header_bytes = 0
        self._headers_done = self._received = False

    def _reads_to_close(self) -> bool:
        """An answer with neither a length nor chunks ends when the connection does."""
        return "content-length" not in self._headers and "chunked" not in self._headers.get(
            "transfer-encoding", ""
        )

    def time_out(self) -> None:
        """The caller's deadline passed: its answer fails with ``TimeoutError``."""
        self._fail(TimeoutError())

    def _fail(self, exc: HttpClientError | TimeoutError) -> None:
        self.closed = True
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)
        self.transport.close()


class Http1Client:
    """Up to ``limit`` calls in flight; connections kept ``keepalive_s`` while idle.

    Make it inside the event loop it is used from; ``aclose`` closes every connection.
    """

    def __init__(
        self,
        *,
        limit: int,
        keepalive_s: float,
        tls: ssl.SSLContext,
        resolver: AbstractResolver | None = None,
        socket_factory: SocketFactory | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._keepalive_s = keepalive_s
        self._tls = tls
        self._resolver = resolver
        self._socket_factory = socket_factory
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._sweep: asyncio.TimerHandle | None = None
        self.closed = False

    async def __aenter__(self) -> Http1Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self.closed = True
        if self._sweep is not None:
            self._sweep.cancel()
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()

    async def get(self, url: str, headers: Mapping[str, str], *, timeout_s: float) -> Answer:
        return await self.request("GET", url, headers, b"", timeout_s=timeout_s)

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        timeout_s: float,
        max_body_bytes: int | None = None,
    ) -> Answer:
        """One call and its whole answer within ``timeout_s`` (``TimeoutError`` past it);
        ``HttpClientError`` when it fails before that. Redirects are answers like others.
        With ``max_body_bytes``, no more of the answer's body is waited for or kept."""
        origin, target = _split(url)
        request = _request_bytes(method, target, _host_header(origin), headers, body)
        deadline = asyncio.get_running_loop().time() + timeout_s
        await self._take_slot(deadline)
        try:
            conn = self._kept(origin)
            if conn is not None:
                try:
                    return await self._exchange(origin, conn, request, max_body_bytes, deadline)
                except ReadError:
                    # Closed by the server while kept: a GET is sent again, once, on a
                    # fresh connection (as aiohttp and httpx do); anything else fails.
                    if method != "GET" or conn.received:
                        raise
            async with asyncio.timeout_at(deadline):
                conn = await self._connect(origin)
            return await self._exchange(origin, conn, request, max_body_bytes, deadline)
        finally:
            self._slots.release()

    async def _take_slot(self, deadline: float) -> None:
        """One of the ``limit`` slots, waited for until ``deadline`` at most."""
        if not self._slots.locked():
            await self._slots.acquire()  # at once: no timer needed
            return
        async with asyncio.timeout_at(deadline):
            await self._slots.acquire()

    async def _exchange(
        self,
        origin: Origin,
        conn: _Connection,
        request: bytes,
        max_body_bytes: int | None,
        deadline: float,
    ) -> Answer:
        # The answer is given up on at the deadline by one timer on the loop: cheaper, on
        # every call, than asyncio.timeout's cancellation of the task.
        answer_of = conn.send(request, max_body_bytes)
        timer = asyncio.get_running_loop().call_at(deadline, conn.time_out)
        try:
            answer = await answer_of
        except BaseException:
            self._discard(conn)
            raise
        finally:
            timer.cancel()
        if conn.closed:
            self._discard(conn)
        else:
            conn.idle_since = time.monotonic()
            self._idle.setdefault(origin, deque()).append(conn)
            if self._sweep is None:
                self._sweep = asyncio.get_running_loop().call_later(
                    self._keepalive_s, self._close_idle
                )
        return answer

    def _close_idle(self) -> None:
        """Close the connections idle past the keep-alive; again later while any are kept."""
        self._sweep = None
        oldest_kept = time.monotonic() - self._keepalive_s
        for origin, idle in list(self._idle.items()):
            self._close_expired(idle, oldest_kept)
            if not idle:
                del self._idle[origin]
        if self._idle and not self.closed:
            self._sweep = asyncio.get_running_loop().call_later(self._keepalive_s, self._close_idle)

    def _kept(self, origin: Origin) -> _Connection | None:
        """The most recently used idle connection to ``origin`` still worth using."""
        idle = self._idle.get(origin)
        oldest_kept = time.monotonic() - self._keepalive_s
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_since >= oldest_kept and not conn.dropped():
                self._close_expired(idle, oldest_kept)
                return conn
            self._discard(conn)
        return None

    def _close_expired(self, idle: deque[_Connection], oldest_kept: float) -> None:
        while idle and (idle[0].closed or idle[0].idle_since < oldest_kept):
            self._discard(idle.popleft())

    def _discard(self, conn: _Connection) -> None:
        conn.close()
        self._open.discard(conn)

    async def _connect(self, origin: Origin) -> _Connection:
        if self.closed:
            raise ConnectError("the client is closed")
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        failure: OSError | None = None
        for info in await self._addresses(host, port):
            try:
                sock = await self._connected_socket(loop, info)
                _, conn = await loop.create_connection(
                    _Connection,
                    sock=sock,
                    ssl=self._tls if scheme == "https" else None,
                    server_hostname=host if scheme == "https" else None,
                )
            except OSError as exc:  # ssl.SSLError included
                failure = exc
                continue
            self._open.add(conn)
            return conn
        raise ConnectError(f"cannot connect to {host}:{port}: {failure}") from failure

    async def _addresses(self, host: str, port: int) -> Sequence[AddrInfoType]:
        if _is_ip_literal(host):  # no name to look up: no trip to the loop's thread pool
            return socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP,
                flags=socket.AI_NUMERICHOST,
            )  # fmt: skip
        if self._resolver is None:
            try:
                return await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
                )
            except OSError as exc:
                raise ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        try:
            answers = await self._resolver.resolve(host, port, socket.AF_UNSPEC)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        return [
            (a["family"], socket.SOCK_STREAM, socket.IPPROTO_TCP, "", _sockaddr(a)) for a in answers
        ]

    async def _connected_socket(
        self,
        loop: asyncio.AbstractEventLoop,
        info: AddrInfoType,
    ) -> socket.socket:
        family, kind, proto, _, sockaddr = info
        if self._socket_factory is not None:
            sock = self._socket_factory(info)
        else:
            sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(sock, sockaddr)
        except BaseException:
            sock.close()
            raise
        return sock


@functools.lru_cache(maxsize=4096)
def _split(url: str) -> tuple[Origin, str]:
    """Cached: a webhook endpoint's URL comes again on every attempt."""
    parts = urlsplit(url)
    scheme, host = parts.scheme, parts.hostname
    if scheme not in ("http", "https") or not host:
        raise ConnectError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (scheme, host, port), target


def _host_header(origin: Origin) -> str:
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return shown if port == default else f"{shown}:{port}"


def _request_bytes(
    method: str, target: str, host: str, headers: Mapping[str, str], body: bytes
) -> bytes:
    """The request's bytes; ``Host`` and ``User-Agent`` unless ``headers`` name their own."""
    lines = [f"{method} {target} HTTP/1.1"]
    defaults = {"host": f"Host: {host}", "user-agent": f"User-Agent: {USER_AGENT}"}
    for name, value in headers.items():
        if "\n" in name or "\r" in name or "\n" in value or "\r" in value:
            raise LocalProtocolError(f"the {name!r} header holds a line break")
        defaults.pop(name.lower(), None)
        lines.append(f"{name}: {value}")
    lines[1:1] = defaults.values()
    if body or method not in ("GET", "HEAD"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _is_ip_literal(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


def _sockaddr(answer: Mapping[str, object]) -> tuple[object, ...]:
    if answer["family"] == socket.AF_INET6:
        return (answer["host"], answer["port"], 0, 0)
    return (answer["host"], answer["port"])
