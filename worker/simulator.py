"""A simulated OpenAI Batch API on loopback, for ``batchhook simulate-provider``.

Point a connection at it to try batchhook without a provider account:
``{"provider": "openai", "api_key": "sk-sim", "base_url": "http://127.0.0.1:8001/v1"}``.

``BatchBook`` is the pure part: the batches and their timelines, behind a lock, with an
injected clock. A batch comes into existence when it is created or first retrieved (so any
id works), walks through ``steps`` (by default ``validating``, then ``in_progress`` 2 s
later) and stays there until moved. Besides OpenAI's create, retrieve, list and cancel, the
simulator answers three calls of its own. ``HookSink`` keeps the webhooks POSTed to
``/hooks``, to be read back and checked with ``batchhook verify``. ``SimulatedProvider``
serves both over the stdlib's threaded HTTP server; ``worker.demo`` runs a faster timeline.

    POST /v1/batches                      create (every field optional)   -> validating
    GET  /v1/batches/{id}                 retrieve (an unseen id starts now)
    GET  /v1/batches?limit=&after=        list, newest first
    POST /v1/batches/{id}/cancel          cancelling, then cancelled 1 s later
    POST /v1/batches/{id}/complete|fail|expire
    POST /hooks, GET /hooks               the webhook sink (no bearer token)

``/v1`` calls need ``Authorization: Bearer <anything>``; errors have OpenAI's shape.
"""

from __future__ import annotations

import json
import secrets
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from worker.errors import ConfigError, Conflict, InputError, NotFound

Steps = tuple[tuple[str, float], ...]  # (status, seconds after the batch was first seen)
Reply = tuple[int, dict[str, Any]]

LOOPBACK = "127.0.0.1"
DEFAULT_STEPS_S: Steps = (("validating", 0.0), ("in_progress", 2.0))
CANCEL_DELAY_S = 1.0  # cancelling -> cancelled
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
MOVES = {"complete": "completed", "fail": "failed", "expire": "expired", "cancel": "cancelling"}
TOTAL_REQUESTS = 100
DONE_REQUESTS = {"in_progress": 40, "finalizing": 100, "completed": 100}
STAMPED = ("in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")
HOOKS_KEPT = 100
_LINE_ERROR = {"code": "invalid_json_line", "message": "Not valid JSON.", "param": None, "line": 1}
FAILED_ERRORS = {"object": "list", "data": [_LINE_ERROR]}  # a validation failure, as OpenAI's


@dataclass
class _Batch:
    id: str
    seq: int
    first_seen_at: float
    endpoint: str = "/v1/chat/completions"
    input_file_id: str = "file-sim-input"
    completion_window: str = "24h"
    metadata: dict[str, Any] = field(default_factory=dict)
    moves: list[tuple[str, float]] = field(default_factory=list)
    file_tag: str = field(default_factory=lambda: secrets.token_hex(6))


def entered(batch: _Batch, steps: Steps, now: float) -> list[tuple[str, float]]:
    """Each status the batch has entered by ``now``, with when; the first move ends the steps."""
    moved_at = batch.moves[0][1] if batch.moves else float("inf")
    stepped = [(status, batch.first_seen_at + after_s) for status, after_s in steps]
    reached = [(status, at) for status, at in stepped if at <= now and at < moved_at]
    return reached + [(status, at) for status, at in batch.moves if at <= now]


def batch_object(batch: _Batch, history: list[tuple[str, float]]) -> dict[str, Any]:
    """OpenAI's Batch object for a batch with this history."""
    status = history[-1][0]
    at = {name: int(at_s) for name, at_s in history}
    done = DONE_REQUESTS.get(status, 0 if status in ("validating", "failed") else 40)
    failed = TOTAL_REQUESTS - done if status == "expired" else 0  # its expired requests
    outputs = status in ("completed", "expired", "cancelled")
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": batch.endpoint,
        "errors": FAILED_ERRORS if status == "failed" else None,
        "input_file_id": batch.input_file_id,
        "completion_window": batch.completion_window,
        "status": status,
        "output_file_id": f"file-sim-output-{batch.file_tag}" if outputs else None,
        "error_file_id": f"file-sim-errors-{batch.file_tag}" if status == "expired" else None,
        "created_at": int(batch.first_seen_at),
        "expires_at": int(batch.first_seen_at) + 24 * 3600,
        **{f"{name}_at": at.get(name) for name in STAMPED},
        "request_counts": {"total": TOTAL_REQUESTS, "completed": done, "failed": failed},
        "metadata": batch.metadata,
    }


def _create_fields(body: bytes) -> dict[str, Any]:
    """The fields of OpenAI's create call, all optional here."""
    try:
        request = json.loads(body or b"{}")
    except ValueError as exc:
        raise InputError("We could not parse the JSON body of your request.") from exc
    if not isinstance(request, dict):
        raise InputError("The body of your request must be a JSON object.")
    names = ("endpoint", "input_file_id", "completion_window")
    fields = {name: request[name] for name in names if request.get(name) is not None}
    if not all(isinstance(value, str) for value in fields.values()):
        raise InputError("endpoint, input_file_id and completion_window must be strings")
    metadata = request.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InputError("metadata must be an object")
    return {**fields, "metadata": metadata}


class BatchBook:
    """Every batch the simulator knows, and where each stands on its timeline."""

    def __init__(
        self, steps: Steps = DEFAULT_STEPS_S, clock: Callable[[], float] = time.time
    ) -> None:
        offsets = [after_s for _, after_s in steps]
        if not steps or offsets[0] != 0 or offsets != sorted(offsets):
            raise ValueError("steps must start at 0 s and be in time order")
        self._steps = steps
        self._clock = clock
        self._batches: dict[str, _Batch] = {}
        self._lock = threading.Lock()
        self._latest_s = 0.0

    def create(self, body: bytes) -> dict[str, Any]:
        fields = _create_fields(body)
        with self._lock:
            return self._object(self._add(f"batch_sim_{secrets.token_hex(12)}", **fields))

    def get(self, batch_id: str) -> dict[str, Any]:
        """The batch; an id never seen before starts its timeline now."""
        with self._lock:
            return self._object(self._batches.get(batch_id) or self._add(batch_id))

    def move(self, batch_id: str, action: str) -> dict[str, Any]:
        """Cancel, complete, fail or expire a batch that has not ended."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                raise NotFound(f"No batch found with id '{batch_id}'.")
            now = self._now()
            status = entered(batch, self._steps, now)[-1][0]
            if status in TERMINAL:
                raise Conflict(f"Cannot {action} a batch with status '{status}'.")
            moves = [(MOVES[action], now)]
            if action == "cancel":
                moves.append(("cancelled", now + CANCEL_DELAY_S))
            if status != "cancelling" or action != "cancel":
                batch.moves = [m for m in batch.moves if m[1] <= now] + moves
            return self._object(batch)

    def list_page(self, limit: int, after: str | None) -> dict[str, Any]:
        """OpenAI's list page: newest first, ``after`` the id that ended the previous page."""
        with self._lock:
            newest = sorted(self._batches.values(), key=lambda b: b.seq, reverse=True)
            ids = [b.id for b in newest]
            start = ids.index(after) + 1 if after in ids else len(ids) if after else 0
            page = [self._object(b) for b in newest[start : start + limit]]
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": start + limit < len(ids),
        }

    def _now(self) -> float:
        self._latest_s = max(self._latest_s, self._clock())  # never backwards
        return self._latest_s

    def _add(self, batch_id: str, **fields: Any) -> _Batch:
        batch = _Batch(batch_id, len(self._batches), self._now(), **fields)
        self._batches[batch_id] = batch
        return batch

    def _object(self, batch: _Batch) -> dict[str, Any]:
        return batch_object(batch, entered(batch, self._steps, self._now()))


def describe_webhook(body: bytes) -> str:
    """One line: ``webhook batch.completed evt_... batch batch_abc123 -> completed``."""
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        return f"webhook of {len(body)} bytes (not a JSON object)"
    data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
    line = f"webhook {event.get('type')} {event.get('id')}"
    return f"{line} batch {data.get('id')} -> {data.get('status')}" if "status" in data else line


class HookSink:
    """The last webhooks POSTed to ``/hooks``, oldest first; each is announced on stdout."""

    def __init__(self) -> None:
        self._hooks: deque[dict[str, Any]] = deque(maxlen=HOOKS_KEPT)
        self._lock = threading.Lock()

    def add(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        hook = {"headers": dict(headers), "body": body.decode(errors="replace")}
        with self._lock:
            self._hooks.append(hook)
        print(describe_webhook(body), flush=True)
        return hook

    def listing(self) -> dict[str, Any]:
        with self._lock:
            return {"data": list(self._hooks)}


def error_body(message: str) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    }


def _page_args(query: dict[str, list[str]]) -> tuple[int, str | None]:
    limit = query.get("limit", ["20"])[-1]
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise InputError("limit must be an integer from 1 to 100")
    after = query.get("after")
    return int(limit), after[-1] if after else None


def _batches(
    book: BatchBook, method: str, parts: list[str], query: str, body: bytes
) -> dict[str, Any] | None:
    """The answer to a ``/v1/batches`` call, or None when no call has this shape."""
    match method, parts:
        case "GET", ["v1", "batches"]:
            return book.list_page(*_page_args(parse_qs(query)))
        case "POST", ["v1", "batches"]:
            return book.create(body)
        case "GET", ["v1", "batches", batch_id] if batch_id:
            return book.get(batch_id)
        case "POST", ["v1", "batches", batch_id, action] if batch_id and action in MOVES:
            return book.move(batch_id, action)
    return None


def _has_bearer(headers: Mapping[str, str]) -> bool:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def answer(
    book: BatchBook,
    sink: HookSink,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
) -> Reply:
    """Route one request (``headers`` lower-cased) to the book or the sink."""
    url = urlsplit(target)
    parts = url.path.strip("/").split("/")
    if parts == ["hooks"]:
        return 200, sink.add(headers, body) if method == "POST" else sink.listing()
    if parts[0] == "v1" and not _has_bearer(headers):
        return 401, error_body("You didn't provide an API key (Authorization: Bearer ...).")
    try:
        found = _batches(book, method, parts, url.query, body)
    except (NotFound, Conflict) as exc:
        return exc.status_code, error_body(str(exc))
    except InputError as exc:
        return 400, error_body(str(exc))
    return (
        (200, found)
        if found is not None
        else (404, error_body(f"Invalid URL ({method} {url.path})"))
    )


def _handler(book: BatchBook, sink: HookSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, payload = answer(book, sink, self.command, self.path, headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


class SimulatedProvider:
    """The simulator, served on ``host:port`` (0: a free port) from a background thread."""

    def __init__(self, host: str = LOOPBACK, port: int = 0, steps: Steps = DEFAULT_STEPS_S) -> None:
        self.book = BatchBook(steps)
        self.sink = HookSink()
        self._server = ThreadingHTTPServer((host, port), _handler(self.book, self.sink))
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def banner(url: str, steps: Steps = DEFAULT_STEPS_S) -> str:
    base_url = f"{url}/v1"
    connection = json.dumps({"provider": "openai", "api_key": "sk-sim", "base_url": base_url})
    timeline = ", then ".join(s if t == 0 else f"{s} after {t:g} s" for s, t in steps)
    move = f"curl -sS -X POST -H 'authorization: Bearer sk-sim' {base_url}/batches/batch_abc123"
    return "\n".join(
        [
            f"batchhook simulate-provider: a simulated OpenAI Batch API at {base_url}",
            f"  connection: {connection}",
            "  batchhook must run with BATCHHOOK_ALLOW_PRIVATE_DESTINATIONS=1 to reach it",
            f"  webhook sink: {url}/hooks (an endpoint url to try; GET it to see what arrived)",
            f"Batches (any id) are {timeline}, until you move them:",
            *(f"  {move}/{action}" for action in MOVES),
            "Ctrl-C stops it.",
        ]
    )


def run(host: str, port: int) -> int:
    """Serve until SIGINT or SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        provider = SimulatedProvider(host, port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    print(banner(provider.url), flush=True)
    stop.wait()
    provider.stop()
    print("simulate-provider: stopped", flush=True)
    return 0
