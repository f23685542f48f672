"""The pieces of ``batchhook dev --demo``: a simulated provider and a local receiver.

Both are small threaded HTTP servers on 127.0.0.1. The simulated provider answers
OpenAI's retrieve-batch call with a batch that moves validating -> in_progress ->
finalizing -> completed within seconds; the receiver verifies each webhook's signature
the way a subscriber would and keeps what arrived.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from worker import signing
from worker.errors import InputError

DEMO_STEPS_S = (("validating", 0.0), ("in_progress", 1.0), ("finalizing", 2.5), ("completed", 4.0))


def demo_batch(batch_id: str, elapsed_s: float, started_at: int) -> dict[str, Any]:
    status = [name for name, after_s in DEMO_STEPS_S if elapsed_s >= after_s][-1]
    done = status == "completed"
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "errors": None,
        "input_file_id": "file-demo-input",
        "completion_window": "24h",
        "status": status,
        "output_file_id": "file-demo-output" if done else None,
        "error_file_id": None,
        "created_at": started_at,
        "completed_at": int(time.time()) if done else None,
        "request_counts": {"total": 3, "completed": 3 if done else 1, "failed": 0},
        "metadata": {"demo": "true"},
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def _serve(handler: type[BaseHTTPRequestHandler]) -> _Server:
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SimulatedProvider:
    """Answers ``GET /v1/batches/{id}``; every batch finishes 4 s after its first poll."""

    def __init__(self) -> None:
        first_seen: dict[str, float] = {}

        class Handler(_QuietHandler):
            def do_GET(self) -> None:
                batch_id = self.path.rstrip("/").rsplit("/", 1)[-1]
                if not self.path.startswith("/v1/batches/"):
                    self._answer(404, {"error": {"message": "not found", "type": "invalid"}})
                    return
                started = first_seen.setdefault(batch_id, time.time())
                self._answer(200, demo_batch(batch_id, time.time() - started, int(started)))

        self._server = _serve(Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def stop(self) -> None:
        self._server.shutdown()


class DemoReceiver:
    """A subscriber: verifies every webhook with the endpoint's secret."""

    def __init__(self, on_webhook: Callable[[dict[str, Any], bool], None]) -> None:
        self.secret: str | None = None
        receiver = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                verified = receiver.verified(dict(self.headers), body)
                on_webhook(json.loads(body), verified)
                self._answer(200 if verified else 400, {"ok": verified})

        self._server = _serve(Handler)

    def verified(self, headers: dict[str, str], body: bytes) -> bool:
        if self.secret is None:
            return False
        try:
            signing.verify(self.secret, headers, body, now=time.time())
        except InputError:
            return False
        return True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/batches"

    def stop(self) -> None:
        self._server.shutdown()
