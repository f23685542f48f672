"""Size limits on every request, before any route sees it: URL, headers and body.

A pure ASGI middleware: the body is read (at most ``max_body_bytes`` of it, whether or
not a ``content-length`` announced it) and handed to the app whole, so an oversized or
endless body is refused with ``413`` and the contract's error body, and nothing runs.
The server's limit on the whole request head (``MAX_HEAD_BYTES``, see
``worker.api.http_protocol``) sits above these, for heads too large to parse at all.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.records import frozen

MAX_HEAD_BYTES = 64 * 1024


@frozen
class RequestLimits:
    max_body_bytes: int = 1024 * 1024
    max_header_bytes: int = 16 * 1024  # names and values together
    max_headers: int = 100
    max_url_bytes: int = 4096  # path and query string


class TooLarge(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


def head_problem(scope: Scope, limits: RequestLimits) -> TooLarge | None:
    """Why the request line or headers are refused, or None. Pure."""
    url_bytes = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
    if url_bytes > limits.max_url_bytes:
        return TooLarge(414, f"the URL is longer than {limits.max_url_bytes} bytes")
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    if len(headers) > limits.max_headers:
        return TooLarge(431, f"more than {limits.max_headers} headers")
    if sum(len(name) + len(value) for name, value in headers) > limits.max_header_bytes:
        return TooLarge(431, f"the headers are larger than {limits.max_header_bytes} bytes")
    declared = dict(headers).get(b"content-length")
    if declared is not None:
        if not declared.isdigit():
            return TooLarge(400, "content-length is not a number")
        if int(declared) > limits.max_body_bytes:
            return TooLarge(413, f"the body is larger than {limits.max_body_bytes} bytes")
    return None


class LimitRequests:
    def __init__(self, app: ASGIApp, limits: RequestLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            problem = head_problem(scope, self.limits)
            if problem is not None:
                raise problem
            body = await self._read_body(receive)
        except TooLarge as refused:
            await _send_error(send, refused.status_code, str(refused))
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                raise TooLarge(413, f"the body is larger than {self.limits.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The whole body as one message, then the client's own messages (disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def error_body(message: str) -> bytes:
    """The contract's error body for a request refused before any route sees it."""
    payload: dict[str, Any] = {"error": {"type": "invalid_request_error", "message": message}}
    return json.dumps(payload).encode()


async def _send_error(send: Send, status_code: int, message: str) -> None:
    body = error_body(message)
    await send(
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
