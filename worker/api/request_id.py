"""A request id on every answer, and on every log line of the request.

A pure ASGI middleware (streamed answers, such as the event stream, pass through as they
are made): the caller's own ``x-request-id`` when it is sane (at most 128 characters of
``[A-Za-z0-9._:-]``), else a new ``req_`` + 24 hex digits, answered in ``x-request-id``
and bound as ``request_id`` in structlog's contextvars while the request runs. It sits
inside Starlette's last-resort error handler, so for an exception no handler took it
answers the 500 itself (the contract's body, with the id) before letting it go on up.
"""

from __future__ import annotations

import json
import re
import secrets

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
SANE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id(sent: str | None) -> str:
    """The caller's id when it is sane, else a new one. Pure but for the random part."""
    if sent is not None and SANE.fullmatch(sent):
        return sent
    return f"req_{secrets.token_hex(12)}"


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = [v for k, v in scope["headers"] if k == HEADER.encode()]
        rid = request_id(sent[0].decode("latin-1") if len(sent) == 1 else None)

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                if not started:
                    await _internal_error(send_with_id)
                raise


async def _internal_error(send: Send) -> None:
    body = json.dumps({"error": {"type": "api_error", "message": "internal error"}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
