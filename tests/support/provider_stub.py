"""A stand-in for a batch provider's retrieve-batch endpoint, checking what it receives.

Each flavour answers on the URL shape of the real system (Keywords AI and Respan under
``/api/v1`` with a trailing slash) and records any request whose path or headers the real
system would have refused in ``mismatches``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from tests.support.http_server import Answer, LoopbackServer, LoopbackService, Request

PARAMS_HEADERS = {"keywordsai": "x-data-keywordsai-params", "respan": "x-data-respan-params"}
PREFIXES = {"keywordsai": "/api/v1", "respan": "/api/v1"}
TRAILING_SLASH = {"keywordsai", "respan"}
STRING_ERROR_401 = {"keywordsai", "respan"}


@dataclass
class _Failure:
    status: int
    body: Any
    headers: dict[str, str]
    times: int


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(
        status,
        json.dumps(body).encode(),
        {"content-type": "application/json", **(headers or {})},
    )


class ProviderStub(LoopbackService):
    def __init__(
        self,
        flavour: str,
        api_key: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.flavour = flavour
        self.api_key = api_key
        self.params = params
        self.expected_headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.mismatches: list[str] = []
        self._lock = threading.Lock()
        self._batches: dict[str, dict[str, Any]] = {}
        self._scripts: dict[str, deque[str]] = {}
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._requests: dict[str, list[Request]] = defaultdict(list)
        self._server = LoopbackServer(self._handle)
        self.base_url = self._server.url + PREFIXES.get(flavour, "/v1")

    # --- what a test sets up -------------------------------------------------------------

    def set_batch(self, batch_id: str, status: str, **fields: Any) -> None:
        with self._lock:
            self._batches[batch_id] = batch_object(batch_id, status, **fields)

    def script(self, batch_id: str, statuses: list[str]) -> None:
        """Each retrieve moves the batch one status on; the last status then stays."""
        with self._lock:
            self._scripts[batch_id] = deque(statuses)
        self.set_batch(batch_id, statuses[0])

    def fail_next(
        self,
        batch_id: str,
        code: int,
        body: Any,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        with self._lock:
            self._failures[batch_id].append(_Failure(code, body, headers or {}, times))

    def requests_for(self, batch_id: str) -> list[Request]:
        with self._lock:
            return list(self._requests.get(batch_id, []))

    # --- answering ---------------------------------------------------------------------

    def _handle(self, request: Request) -> Answer:
        batch_id = self._batch_id_of(request)
        if batch_id is None:
            return json_answer(
                404, {"error": {"message": "Not found", "type": "invalid_request_error"}}
            )
        with self._lock:
            self._requests[batch_id].append(request)
        if not self._authorised(request):
            return self._unauthorised()
        self._check_headers(request)
        failure = self._take_failure(batch_id)
        if failure is not None:
            return json_answer(failure.status, failure.body, failure.headers)
        batch = self._advance(batch_id)
        if batch is None:
            return json_answer(404, not_found_body(batch_id))
        return json_answer(200, batch)

    def _batch_id_of(self, request: Request) -> str | None:
        prefix = PREFIXES.get(self.flavour, "/v1") + "/batches/"
        path = request.path.split("?", 1)[0]
        if request.method != "GET" or not path.startswith(prefix):
            self._mismatch(f"unexpected {request.method} {request.path}")
            return None
        rest = path[len(prefix) :]
        if self.flavour in TRAILING_SLASH:
            if not rest.endswith("/"):
                self._mismatch(f"{self.flavour} needs a trailing slash: {path}")
            rest = rest.rstrip("/")
        elif rest.endswith("/"):
            self._mismatch(f"unexpected trailing slash: {path}")
            rest = rest.rstrip("/")
        return unquote(rest)

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    def _unauthorised(self) -> Answer:
        if self.flavour in STRING_ERROR_401:
            return json_answer(401, {"error": "Authentication credentials were not provided."})
        return json_answer(
            401,
            {
                "error": {
                    "message": "Incorrect API key provided.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
        )

    def _check_headers(self, request: Request) -> None:
        params_header = PARAMS_HEADERS.get(self.flavour)
        if params_header and self.params is not None:
            sent = request.headers.get(params_header)
            try:
                decoded = json.loads(sent) if sent else None
            except json.JSONDecodeError:
                decoded = None
            if decoded != self.params:
                self._mismatch(f"{params_header} was {sent!r}, expected {self.params!r}")
        for name, value in self.expected_headers.items():
            if request.headers.get(name) != value:
                self._mismatch(f"{name} was {request.headers.get(name)!r}, expected {value!r}")

    def _take_failure(self, batch_id: str) -> _Failure | None:
        with self._lock:
            queue = self._failures.get(batch_id)
            if not queue:
                return None
            failure = queue[0]
            failure.times -= 1
            if failure.times <= 0:
                queue.popleft()
            return failure

    def _advance(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            current = self._batches.get(batch_id)
            script = self._scripts.get(batch_id)
            if current is None:
                return None
            if script and len(script) > 1:
                script.popleft()
                self._batches[batch_id] = batch_object(batch_id, script[0])
            return current

    def _mismatch(self, text: str) -> None:
        with self._lock:
            self.mismatches.append(text)


def not_found_body(batch_id: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"No such batch: {batch_id}",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def batch_object(batch_id: str, status: str, **fields: Any) -> dict[str, Any]:
    """An OpenAI batch object as the retrieve call returns it."""
    now = int(time.time())
    done = status == "completed"
    batch: dict[str, Any] = {
        "id": batch_id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "errors": None,
        "input_file_id": f"file-in-{batch_id}",
        "completion_window": "24h",
        "status": status,
        "output_file_id": f"file-out-{batch_id}" if done else None,
        "error_file_id": None,
        "created_at": now - 60,
        "in_progress_at": now - 30 if status != "validating" else None,
        "expires_at": now + 86400,
        "completed_at": now if done else None,
        "failed_at": now if status == "failed" else None,
        "expired_at": now if status == "expired" else None,
        "cancelled_at": now if status == "cancelled" else None,
        "request_counts": {"total": 10, "completed": 10 if done else 4, "failed": 0},
        "metadata": {"origin": "provider-stub"},
    }
    batch.update(fields)
    return batch
