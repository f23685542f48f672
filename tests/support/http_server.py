"""A threaded loopback HTTP server whose requests go to one Python callable."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.lifecycle import Running


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.time)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # answer this much later (a slow or hanging server)
    fault: str = ""  # "reset": drop the connection unanswered; "truncate": half the body
    # A body made as it is sent, never whole in memory (``body`` is then unused): with a
    # content-length among ``headers`` it is sent as is, else in chunked encoding.
    stream: Iterable[bytes] | None = None


def _reset(connection: socket.socket) -> None:
    """Close with an RST, as a crashed or overloaded server does."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


Handler = Callable[[Request], Answer]


class LoopbackServer(Running):
    """Serves ``handle`` on 127.0.0.1 and a free port, in a background thread."""

    def __init__(self, handle: Handler) -> None:
        self._handle = handle
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._count_lock = threading.Lock()
        self.in_flight = 0  # requests received and not yet answered

    def _track(self, change: int) -> None:
        with self._count_lock:
            self.in_flight += change

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        handle = self._handle
        track = self._track

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = Request(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                track(1)
                try:
                    answer = handle(request)
                    if answer.delay_s:
                        time.sleep(answer.delay_s)
                    self._send(answer)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    track(-1)

            def _send(self, answer: Answer) -> None:
                if answer.fault == "reset":
                    _reset(self.connection)
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if answer.stream is not None:
                    self._send_stream(answer)
                    return
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                if answer.fault == "truncate":
                    self.wfile.write(answer.body[: len(answer.body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(answer.body)

            def _send_stream(self, answer: Answer) -> None:
                assert answer.stream is not None
                chunked = "content-length" not in {n.lower() for n in answer.headers}
                if chunked:
                    self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for chunk in answer.stream:
                    if not chunk:
                        continue
                    if chunked:
                        self.wfile.write(b"%x\r\n" % len(chunk))
                    self.wfile.write(chunk)
                    if chunked:
                        self.wfile.write(b"\r\n")
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: object) -> None:
                return

        return _Handler


class LoopbackService(Running):
    """Base of the test doubles that answer HTTP: ``with`` starts and stops their server."""

    _server: LoopbackServer

    @property
    def in_flight(self) -> int:
        return self._server.in_flight

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()
