"""The API's HTTP/1.1 protocol: uvicorn's httptools parser, with a limit on the head.

httptools (llhttp, in C) parses a request in a fraction of the CPU of uvicorn's pure-Python
h11 parser, but uvicorn sets it no limit on the request head: a client could send header
bytes for ever and the parser would keep them. ``HeadLimitedHttpToolsProtocol`` counts
the bytes that arrive while a head is still incomplete and, past ``MAX_HEAD_BYTES``,
answers ``431`` with the contract's error body and closes the connection. The count may
run over by one read (a read that starts a head after a body is not counted), which
bounds the memory a head can take all the same.

It also keeps the ``date`` header current: uvicorn refreshes it from a loop that wakes
ten times a second; ``batchhook web`` lets that loop sleep (``worker.commands``), so the
header is refreshed here, as each request's head is complete, once a second at most.
"""

from __future__ import annotations

import functools
import time
from email.utils import formatdate
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from worker.api.limits import MAX_HEAD_BYTES, error_body


@functools.lru_cache(maxsize=1)
def http_date(second: int) -> bytes:
    return formatdate(second, usegmt=True).encode()


class HeadLimitedHttpToolsProtocol(HttpToolsProtocol):
    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_bytes: int | None = 0  # None while a body (not a head) is being read

    def data_received(self, data: bytes) -> None:
        if self.head_bytes is not None:
            self.head_bytes += len(data)
        super().data_received(data)
        too_large = self.head_bytes is not None and self.head_bytes > self.max_head_bytes
        if too_large and not self.transport.is_closing():
            self.refuse_head()

    def on_headers_complete(self) -> None:
        self.head_bytes = None
        self.refresh_default_headers()
        super().on_headers_complete()

    def refresh_default_headers(self) -> None:
        """The headers every answer carries (as uvicorn's ``Server.on_tick`` sets them),
        with the date of now."""
        date = [(b"date", http_date(int(time.time())))] if self.config.date_header else []
        self.server_state.default_headers = date + self.config.encoded_headers

    def send_400_response(self, msg: str) -> None:
        self.refresh_default_headers()
        super().send_400_response(msg)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.head_bytes = 0

    def refuse_head(self) -> None:
        body = error_body(f"the request head is larger than {self.max_head_bytes} bytes")
        self.refresh_default_headers()
        head = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
