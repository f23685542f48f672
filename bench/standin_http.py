"""What the bench's stand-ins share: a small HTTP/1.1 server on asyncio's protocols (run on
uvloop's loop, as a worker's; requests parsed by httptools), their routes, a command line
with ``--port``, and control calls under ``/_control/`` (a receiver's takes every other
POST as a webhook).

The stand-ins share a small machine with the system they measure, so a request costs as
little CPU as it can: no framework, one ``asyncio.Protocol`` per connection, and a handler
called straight from the parser's callback. Handlers take a ``Request`` and give a
``Response``, or an awaitable of one (only then is a task made). The server keeps
connections alive (HTTP/1.1's default; ``Connection: close`` honoured), reads bodies by
``Content-Length`` or chunked up to ``max_body`` (413 past it, and the connection closed),
answers ``Expect: 100-continue``, and answers pipelined requests in order. Unknown paths
get 404, a known path asked with another method 405. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl, unquote

import httptools
import orjson
import uvloop

CONTROL = "/_control/"
JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
MiB = 1024 * 1024
CLOSE_AFTER_S = 10.0  # a connection half-closed by the server is closed this much later

log = logging.getLogger("standin")


@dataclass(slots=True)
class Request:
    method: str
    path: str  # percent-decoded
    query: dict[str, str]  # the first value of each name
    headers: dict[str, str]  # names in lower case; of a repeated one, the first value
    body: bytes
    params: dict[str, str]  # ``{"batch_id": ...}`` for a route ``/v1/batches/{batch_id}``

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = None  # no Content-Type header when None
    headers: dict[str, str] | None = None  # any others


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, orjson.dumps(data), JSON)


def text_response(status: int, text: str) -> Response:
    return Response(status, text.encode(), TEXT)


Handler = Callable[[Request], Response | Awaitable[Response]]


class Routes:
    """Handlers by method for exact paths, for paths ending in one ``{name}`` segment
    (``/v1/batches/{batch_id}``), and (``fallback``) for any path; tried in that order."""

    def __init__(self) -> None:
        self.exact: dict[str, dict[str, Handler]] = {}
        self.last_segment: dict[str, tuple[str, dict[str, Handler]]] = {}  # prefix: name, ...
        self.fallback: dict[str, Handler] = {}

    def add(self, method: str, path: str, handler: Handler) -> None:
        """A GET route answers HEAD too (the same handler; the answer goes without its body)."""
        if path.endswith("}"):
            prefix, _, name = path[:-1].rpartition("{")
            handlers = self.last_segment.setdefault(prefix, (name, {}))[1]
        else:
            handlers = self.exact.setdefault(path, {})
        handlers[method] = handler
        if method == "GET":
            handlers.setdefault("HEAD", handler)

    def add_control(self, control: dict[str, Handler]) -> None:
        """``{"POST reset": handler, ...}``: ``POST /_control/reset`` and so on."""
        for call, handler in control.items():
            method, name = call.split()
            self.add(method, f"{CONTROL}{name}", handler)

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | Response:
        """The handler and path parameters for a request, else the 404 or 405 answer."""
        allowed: list[str] = []
        handlers = self.exact.get(path)
        if handlers is not None:
            if method in handlers:
                return handlers[method], {}
            allowed += handlers
        prefix, _, value = path.rpartition("/")
        named = self.last_segment.get(prefix + "/") if value else None
        if named is not None:
            name, handlers = named
            if method in handlers:
                return handlers[method], {name: value}
            allowed += handlers
        if self.fallback:
            if method in self.fallback:
                return self.fallback[method], {}
            allowed += self.fallback
        if not allowed:
            return text_response(404, "404: Not Found")
        answer = text_response(405, "405: Method Not Allowed")
        answer.headers = {"Allow": ",".join(sorted(set(allowed)))}
        return answer


# The Connection header of an answer: none (kept, as HTTP/1.1 does by default), keep-alive
# (kept, to a request that asked for it: HTTP/1.0's way), close.
KEEP, KEEP_ASKED, CLOSE = b"", b"Connection: keep-alive\r\n", b"Connection: close\r\n"

_HEADS: dict[tuple[int, str | None], bytes] = {}


def head_start(status: int, content_type: str | None) -> bytes:
    """The status line and Content-Type, up to the Content-Length value (made once each)."""
    start = _HEADS.get((status, content_type))
    if start is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        typed = f"Content-Type: {content_type}\r\n" if content_type is not None else ""
        start = f"HTTP/1.1 {status} {reason}\r\n{typed}Content-Length: ".encode("latin-1")
        _HEADS[status, content_type] = start
    return start


def encode(response: Response, connection: bytes, with_body: bool) -> bytes:
    """The whole answer: status line, headers and (unless to a HEAD) the body."""
    start = head_start(response.status, response.content_type)
    if response.headers:
        connection = connection + "".join(
            f"{name}: {value}\r\n" for name, value in response.headers.items()
        ).encode("latin-1")
    body = response.body if with_body else b""
    return b"%s%d\r\n%s\r\n%s" % (start, len(response.body), connection, body)


class _Stop(Exception):
    """Raised in a parser callback to stop parsing: the connection is being closed."""


# An answer in the order requests came: a response, or a task still making one; then
# whether the request was a HEAD, and its Connection header (``CLOSE``: closed after it).
Pending = tuple["Response | asyncio.Future[Response]", bool, bytes]


class _Connection(asyncio.Protocol):
    """One client connection: each request is parsed as its bytes arrive and handled as
    soon as it is whole; answers leave in the order the requests came."""

    def __init__(self, routes: Routes, max_body: int) -> None:
        self.routes = routes
        self.max_body = max_body
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.closing = False
        self.pending: deque[Pending] = deque()
        self.next_request()

    def next_request(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.body_size = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a TCP server's always is

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True  # a handler still running finishes (as aiohttp's do); unanswered

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if not self.closing:  # else the answer that closes it is queued already
                self.reject(400, f"400: Bad Request ({exc})")

    # The parser's callbacks, in the order it calls them.

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.setdefault(name.decode("latin-1").lower(), value.decode("utf-8", "replace"))

    def on_headers_complete(self) -> None:
        length = self.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            self.reject(413, f"Maximum request body size {self.max_body} exceeded.")
            raise _Stop
        if self.headers.get("expect", "").lower() == "100-continue" and not self.pending:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > self.max_body:
            self.reject(413, f"Maximum request body size {self.max_body} exceeded.")
            raise _Stop
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode("ascii")
        if not self.parser.should_keep_alive():
            connection = CLOSE
            self.closing = True
        else:
            connection = KEEP_ASKED if "connection" in self.headers else KEEP
        self.answer(self.handle(method), method == "HEAD", connection)
        self.next_request()

    # Handling and answering.

    def handle(self, method: str) -> Response | asyncio.Future[Response]:
        raw_path, _, raw_query = self.url.partition(b"?")
        path = raw_path.decode("utf-8", "replace")
        if "%" in path:
            path = unquote(path, errors="replace")
        resolved = self.routes.resolve(method, path)
        if isinstance(resolved, Response):
            return resolved
        handler, params = resolved
        query: dict[str, str] = {}
        if raw_query:
            for name, value in parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True):
                query.setdefault(name, value)
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        request = Request(method, path, query, self.headers, body, params)
        try:
            answer = handler(request)
        except Exception:
            log.exception("%s %s failed", method, path)
            return text_response(500, "500 Internal Server Error")
        if isinstance(answer, Response):
            return answer
        return asyncio.ensure_future(answer)

    def answer(
        self, answer: Response | asyncio.Future[Response], head: bool, connection: bytes
    ) -> None:
        if not self.pending and isinstance(answer, Response):
            self.write(answer, head, connection)
            return
        self.pending.append((answer, head, connection))
        if isinstance(answer, asyncio.Future):
            answer.add_done_callback(self.flush)

    def flush(self, _: object = None) -> None:
        """Write the answers that are ready, up to the first one still being made."""
        while self.pending:
            answer, head, connection = self.pending[0]
            if isinstance(answer, asyncio.Future):
                if not answer.done():
                    return
                answer = self.result_of(answer)
            self.pending.popleft()
            self.write(answer, head, connection)

    @staticmethod
    def result_of(task: asyncio.Future[Response]) -> Response:
        if task.cancelled():
            return text_response(503, "503: Service Unavailable")
        exc = task.exception()
        if exc is not None:
            log.error("a handler failed", exc_info=exc)
            return text_response(500, "500 Internal Server Error")
        return task.result()

    def write(self, response: Response, head: bool, connection: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(encode(response, connection, not head))
        if connection == CLOSE:
            # Half-close, so a client still sending (a body too large) reads the answer
            # rather than a reset; the client's close, or the timer, closes the rest.
            transport.write_eof()
            asyncio.get_running_loop().call_later(CLOSE_AFTER_S, transport.close)

    def reject(self, status: int, text: str) -> None:
        """Answer ``status`` after the answers owed, then close the connection."""
        self.closing = True
        self.answer(text_response(status, text), False, CLOSE)


def command_line(doc: str) -> argparse.ArgumentParser:
    """A stand-in's options, described by the first line of ``doc``: ``--port`` to start."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    return parser


class Receiving(Protocol):
    """A receiver stand-in: its webhook handler and its control calls."""

    def hook(self, request: Request) -> Response: ...

    def control(self) -> dict[str, Handler]: ...


def receiver_routes(hook: Handler, control: dict[str, Handler]) -> Routes:
    """The control calls, then every other POST to ``hook``."""
    routes = Routes()
    routes.add_control(control)
    routes.fallback["POST"] = hook
    return routes


def serve_receiver(parser: argparse.ArgumentParser, build: Callable[[Any], Receiving]) -> None:
    """Read the command line, ``build`` the receiver from its options and serve it, taking
    bodies up to 8 MiB."""
    args = parser.parse_args()
    receiver = build(args)
    serve(receiver_routes(receiver.hook, receiver.control()), args.port, max_body=8 * MiB)


def serve(routes: Routes, port: int, max_body: int = MiB) -> None:
    """Serve ``routes`` on 127.0.0.1:``port`` until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.WARNING)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # as a worker's loop
        runner.run(_serve(routes, port, max_body))


async def _serve(routes: Routes, port: int, max_body: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Connection(routes, max_body), "127.0.0.1", port, backlog=128
    )
    stopped = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    async with server:
        await stopped.wait()
