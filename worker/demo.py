"""``batchhook dev --demo``: a simulated provider, a local receiver, and the run itself.

Both are small threaded HTTP servers on 127.0.0.1. The provider is ``worker.simulator``'s
on a quicker timeline: a batch moves validating -> in_progress -> finalizing -> completed
within seconds of its first poll. The receiver verifies each webhook's signature the way a
subscriber would and keeps what arrived.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from worker import signing, simulator
from worker.errors import InputError
from worker.store import Store

DEMO_STEPS_S = (("validating", 0.0), ("in_progress", 1.0), ("finalizing", 2.5), ("completed", 4.0))


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


class DemoProvider(simulator.SimulatedProvider):
    """The simulated provider on a free port; every batch completes 4 s after its first poll."""

    def __init__(self) -> None:
        super().__init__(steps=DEMO_STEPS_S)


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


DEMO_TENANT = "demo"


def run_demo(api_url: str, store: Store) -> bool:
    """Register a simulated batch and show its verified webhook arriving.

    The demo works in a tenant of its own, with a token of its own, and deletes what it
    made when it ends: the dev tenant's batches never go to the demo's receiver, which is
    gone once the demo ends.
    """
    arrived = threading.Event()
    provider = DemoProvider()
    receiver = DemoReceiver(functools.partial(_show_webhook, arrived))
    token_id, token = store.create_token_with_id(DEMO_TENANT)
    made: list[str] = []  # what to DELETE afterwards, as API paths
    headers = {"authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=api_url, headers=headers) as api:
            try:
                batch_id = _register_demo_batch(api, provider.base_url, receiver, made)
                print(f"demo: registered {batch_id}; it completes in about 4 s", flush=True)
                ok = arrived.wait(timeout=60)
            finally:
                for path in reversed(made):
                    api.delete(path)
    finally:
        store.revoke_token(token_id)
        provider.stop()
        receiver.stop()
    # Said only once everything the demo made is gone: "done" means nothing is left behind.
    print("demo: done" if ok else "demo: no webhook arrived within 60 s", flush=True)
    return ok


def _register_demo_batch(
    api: httpx.Client, provider_url: str, receiver: DemoReceiver, made: list[str]
) -> str:
    """A connection to the simulated provider, an endpoint at the receiver, a batch."""
    connection = {"provider": "openai_compatible", "api_key": "sk-demo", "base_url": provider_url}
    conn = api.post("/v1/connections", json=connection).raise_for_status().json()
    made.append(f"/v1/connections/{conn['id']}")
    endpoint = api.post("/v1/endpoints", json={"url": receiver.url}).raise_for_status().json()
    made.append(f"/v1/endpoints/{endpoint['id']}")
    receiver.secret = endpoint["secret"]
    batch_id = f"batch_demo_{secrets.token_hex(4)}"
    batch = {"batch_id": batch_id, "connection_id": conn["id"], "poll_interval": 1}
    api.post("/v1/batches", json=batch).raise_for_status()
    made.append(f"/v1/batches/{batch_id}")
    return batch_id


def _show_webhook(arrived: threading.Event, event: dict[str, Any], verified: bool) -> None:
    data = event.get("data", {})
    mark = "verified" if verified else "SIGNATURE INVALID"
    print(
        f"demo: webhook {event.get('type')} ({mark}) batch {data.get('id')} "
        f"{data.get('previous_status')} -> {data.get('status')}, "
        f"output_file_id={data.get('output_file_id')}",
        flush=True,
    )
    if verified and event.get("type") == "batch.completed":
        arrived.set()
