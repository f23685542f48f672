"""A stand-in for a batch provider's retrieve, list and file calls, checking what it receives.

Each flavour answers on the URL shape of the real system, with its authentication, its
batch object, its words and its error bodies, and records any request the real system
would have refused (wrong path, header, key or query) in ``mismatches``:

    openai, openai_compatible, litellm   /v1/batches/{id}, Bearer, OpenAI's object
    keywordsai, respan                   /api/v1/batches/{id}/ (trailing slash), tracking
                                         params header (JSON, or base64 of it), string 401
    portkey                              /v1/batches/{id}; mode "bedrock": Bedrock's words
                                         and millisecond times, S3 URIs for files
    groq                                 /openai/v1/batches/{id}
    together                             /v1/batches/{id}, upper-case words, RFC 3339 times
    azure                                {endpoint}/openai/batches/{id}?api-version=..., api-key;
                                         mode "v1": {endpoint}/openai/v1/batches/{id}
    anthropic                            /v1/messages/batches/{id}, x-api-key + anthropic-version
    mistral                              /v1/batch/jobs/{id}, upper-case words, page numbers

Statuses given to ``set_batch`` and ``script`` are the provider's own words.

Result files registered with ``set_file`` (bytes, or a function giving the chunks, made
as they are sent) are served with the same checks of key, headers and query:

    OpenAI's family, mistral             {root}/files/{id}/content (keywordsai, respan:
                                         with the trailing slash)
    azure                                {endpoint}/openai/files/{id}/content?api-version=...
                                         (mode "v1": {endpoint}/openai/v1/files/...)
    portkey                              output: /v1/batches/{batch_id}/output (the file the
                                         batch names as output_file_id); errors as OpenAI
    anthropic                            results_url: /v1/messages/batches/{id}/results,
                                         the file registered under that URL
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.faults import Chaos
from tests.support.http_server import Answer, LoopbackServer, LoopbackService, Request
from tests.support.openai_batch import DAY_S, openai_batch

PARAMS_HEADERS = {"keywordsai": "x-data-keywordsai-params", "respan": "x-data-respan-params"}
AZURE_API_VERSION = "2024-10-21"
ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True)
class Flavour:
    root: str  # the API root's path on the stand-in ("" for Azure's resource endpoint)
    collection: str  # the batches under the root
    auth: str = "bearer"  # bearer | x-api-key | api-key
    shape: str = "openai"  # batch object builder, see SHAPES
    errors: str = "openai"  # error body style, see error_body
    lists: str = "cursor"  # cursor | anthropic | page | array
    trailing_slash: bool = False
    api_version: bool = False  # Azure's dated API: ?api-version= on every call
    files: str = "/files"  # the files under the root


OPENAI = Flavour("/v1", "/batches")
FLAVOURS = {
    "openai": OPENAI,
    "openai_compatible": OPENAI,
    "litellm": OPENAI,
    "keywordsai": Flavour("/api/v1", "/batches", errors="string401", trailing_slash=True),
    "respan": Flavour("/api/v1", "/batches", errors="string401", trailing_slash=True),
    "portkey": Flavour("/v1", "/batches", errors="portkey"),
    "portkey/bedrock": Flavour("/v1", "/batches", shape="bedrock", errors="portkey"),
    "groq": Flavour("/openai/v1", "/batches"),
    "together": Flavour("/v1", "/batches", shape="together", lists="array"),
    "azure": Flavour(
        "",
        "/openai/batches",
        auth="api-key",
        shape="azure",
        errors="azure",
        api_version=True,
        files="/openai/files",
    ),
    "azure/v1": Flavour("/openai/v1", "/batches", auth="api-key", shape="azure", errors="azure"),
    "anthropic": Flavour(
        "/v1",
        "/messages/batches",
        auth="x-api-key",
        shape="anthropic",
        errors="anthropic",
        lists="anthropic",
    ),
    "mistral": Flavour("/v1", "/batch/jobs", shape="mistral", errors="mistral", lists="page"),
}
LIST_QUERY = {
    "cursor": {"limit", "after"},
    "array": {"limit", "after"},
    "anthropic": {"limit", "after_id", "before_id"},
    "page": {"page", "page_size"},
}


@dataclass(frozen=True)
class _File:
    content: bytes | Callable[[], Iterable[bytes]]
    content_type: str
    size: int | None  # None: sent in chunked encoding


@dataclass
class _Failure:
    status: int
    body: Any
    headers: dict[str, str]
    times: int


JSON_TYPE = {"content-type": "application/json"}
# The result files served under a batch's own path: (path suffix, field naming the file).
BATCH_FILE_ROUTES = {
    "anthropic": ("/results", "results_url"),
    "portkey": ("/output", "output_file_id"),
}


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(body).encode(), {**JSON_TYPE, **(headers or {})})


class ProviderStub(LoopbackService):
    def __init__(
        self,
        flavour: str,
        api_key: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        mode: str | None = None,
        params_encoding: str = "json",
    ) -> None:
        """``flavour`` is the provider's name (what a connection gives as ``provider``);
        ``mode`` picks a variant: ``"v1"`` for azure, ``"bedrock"`` for portkey.
        ``params`` are the tracking params expected (or Azure's ``api_version``)."""
        self.flavour = flavour
        self.spec = FLAVOURS[f"{flavour}/{mode}" if mode else flavour]
        self.api_key = api_key
        self.params = params
        self.params_encoding = params_encoding
        self.expected_headers = {k.lower(): v for k, v in (headers or {}).items()}
        if self.spec.auth == "x-api-key":
            self.expected_headers.setdefault("anthropic-version", ANTHROPIC_VERSION)
        self.mismatches: list[str] = []
        self.list_requests: list[Request] = []
        self._lock = threading.Lock()
        self._batches: dict[str, dict[str, Any]] = {}
        self._fields: dict[str, dict[str, Any]] = {}
        self._scripts: dict[str, deque[str]] = {}
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._requests: dict[str, list[Request]] = defaultdict(list)
        self._server = LoopbackServer(self._handle)
        self.base_url = self._server.url + self.spec.root
        self.chaos: Chaos | None = None  # random faults on retrieve calls, see _faulty
        self.hang_s = 3.0  # how long a "timeout" fault keeps the caller waiting
        self._slow_s: dict[str, float] = {}
        self._files: dict[str, _File] = {}

    # --- what a test sets up -------------------------------------------------------------

    def set_batch(self, batch_id: str, status: str, **fields: Any) -> None:
        with self._lock:
            self._fields[batch_id] = fields
            self._batches[batch_id] = self._build(batch_id, status)

    def script(self, batch_id: str, statuses: list[str], **fields: Any) -> None:
        """Each retrieve moves the batch one status on; the last status then stays.
        ``fields`` override the built object at every step."""
        with self._lock:
            self._scripts[batch_id] = deque(statuses)
        self.set_batch(batch_id, statuses[0], **fields)

    def fail_next(
        self,
        batch_id: str,
        code: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next retrieve(s) of the batch (or GETs of the file, given its id) answer
        ``code``, with ``body`` or else this provider's own error body for that code."""
        answer = self.error_body(code) if body is None else body
        with self._lock:
            self._failures[batch_id].append(_Failure(code, answer, headers or {}, times))

    def set_file(
        self,
        file_id: str,
        content: bytes | Callable[[], Iterable[bytes]],
        *,
        size: int | None = None,
        content_type: str = "application/jsonl",
    ) -> None:
        """Serve ``content`` as the file ``file_id`` (Anthropic: the ``results_url``).
        A function is called for each request and its chunks sent as they come, with
        ``size`` as the content-length, or chunked when no size is given."""
        if isinstance(content, bytes):
            size = len(content)
        with self._lock:
            self._files[file_id] = _File(content, content_type, size)

    def answer_slowly(self, batch_id: str, delay_s: float) -> None:
        """Every retrieve of the batch answers (normally) this much later."""
        with self._lock:
            self._slow_s[batch_id] = delay_s

    def requests_for(self, batch_id: str) -> list[Request]:
        with self._lock:
            return list(self._requests.get(batch_id, []))

    def output_file_id(self, batch_id: str) -> str:
        """What a finished batch of this flavour names as its output."""
        template = OUTPUTS.get(self.spec.shape, "file-out-{id}")
        return template.format(id=batch_id, base=self.base_url)

    def error_body(self, code: int, message: str | None = None) -> Any:
        return error_body(self.spec.errors, code, message or MESSAGES.get(code, "Error"))

    # --- answering ---------------------------------------------------------------------

    def _handle(self, request: Request) -> Answer:
        parts = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        collection = self.spec.root + self.spec.collection
        if request.method == "GET" and parts.path.rstrip("/") == collection:
            return self._list(request, parts.path, query)
        file_id = self._file_id_of(request, parts.path)
        if file_id is not None:
            return self._serve_file(request, query, file_id)
        batch_id = self._batch_id_of(request, parts.path)
        if batch_id is None:
            return json_answer(404, self.error_body(404, "Not found"))
        with self._lock:
            self._requests[batch_id].append(request)
        if not self._authorised(request):
            return json_answer(401, self.error_body(401))
        self._check_headers(request)
        self._check_query(query, set())
        failure = self._take_failure(batch_id)
        if failure is not None:
            return json_answer(failure.status, failure.body, failure.headers)
        fault = self.chaos.draw() if self.chaos else None
        if fault is not None and fault != "slow":
            return self._faulty(fault, batch_id)
        batch = self._advance(batch_id)
        if batch is not None and fault == "slow":
            assert self.chaos is not None
            return replace(json_answer(200, batch), delay_s=self.chaos.slow_delay_s())
        if batch is None:
            return json_answer(404, self.error_body(404, f"No such batch: {batch_id}"))
        return replace(json_answer(200, batch), delay_s=self._slow_s.get(batch_id, 0.0))

    def _faulty(self, fault: str, batch_id: str) -> Answer:
        """A failed retrieve: 429 with Retry-After, 500, a hang past the caller's timeout,
        malformed JSON or a truncated body. The batch does not move on."""
        with self._lock:
            batch = self._batches.get(batch_id, {})
        if fault == "429":
            return json_answer(429, self.error_body(429), {"retry-after": "1"})
        if fault == "500":
            return json_answer(500, self.error_body(500))
        if fault == "timeout":
            return replace(json_answer(200, batch), delay_s=self.hang_s)
        if fault == "malformed":
            return Answer(200, b'{"id": "' + batch_id.encode() + b'", "status": ', JSON_TYPE)
        if fault == "truncated":
            return replace(json_answer(200, batch), fault="truncate")
        raise ValueError(f"unknown provider fault {fault!r}")

    # --- result files ----------------------------------------------------------------

    def _file_id_of(self, request: Request, path: str) -> str | None:
        """The file a GET asks for ("" for a batch's output that it has none of); None
        when the path is none of this flavour's file paths."""
        if request.method != "GET":
            return None
        files = self.spec.root + self.spec.files + "/"
        if path.startswith(files) and path.rstrip("/").endswith("/content"):
            if self.spec.trailing_slash != path.endswith("/"):
                self._mismatch(f"file path {path} (trailing slash: {self.spec.trailing_slash})")
            return unquote(path[len(files) :].rstrip("/").removesuffix("/content"))
        batches = self.spec.root + self.spec.collection + "/"
        route = BATCH_FILE_ROUTES.get(self.flavour)
        if route is None or not (path.startswith(batches) and path.endswith(route[0])):
            return None
        batch_id = unquote(path[len(batches) : -len(route[0])])
        with self._lock:
            named = self._batches.get(batch_id, {}).get(route[1])
        return named if isinstance(named, str) else ""

    def _serve_file(self, request: Request, query: dict[str, str], file_id: str) -> Answer:
        with self._lock:
            self._requests[file_id].append(request)
            found = self._files.get(file_id)
        if not self._authorised(request):
            return json_answer(401, self.error_body(401))
        self._check_headers(request)
        self._check_query(query, set())
        failure = self._take_failure(file_id)
        if failure is not None:
            return json_answer(failure.status, failure.body, failure.headers)
        if found is None:
            return json_answer(404, self.error_body(404, f"No such File object: {file_id}"))
        headers = {"content-type": found.content_type}
        if isinstance(found.content, bytes):
            return Answer(200, found.content, headers)
        if found.size is not None:
            headers["content-length"] = str(found.size)
        return Answer(200, headers=headers, stream=found.content())

    def _batch_id_of(self, request: Request, path: str) -> str | None:
        prefix = self.spec.root + self.spec.collection + "/"
        if request.method != "GET" or not path.startswith(prefix):
            self._mismatch(f"unexpected {request.method} {request.path}")
            return None
        rest = path[len(prefix) :]
        if self.spec.trailing_slash:
            if not rest.endswith("/"):
                self._mismatch(f"{self.flavour} needs a trailing slash: {path}")
            rest = rest.rstrip("/")
        elif rest.endswith("/"):
            self._mismatch(f"unexpected trailing slash: {path}")
            rest = rest.rstrip("/")
        return unquote(rest)

    def _authorised(self, request: Request) -> bool:
        headers = request.headers
        if self.spec.auth == "bearer":
            return headers.get("authorization") == f"Bearer {self.api_key}"
        if "authorization" in headers and "authorization" not in self.expected_headers:
            self._mismatch(f"{self.flavour} was sent an authorization header")
        return headers.get(self.spec.auth) == self.api_key

    def _check_headers(self, request: Request) -> None:
        for name, value in self.expected_headers.items():
            if request.headers.get(name) != value:
                self._mismatch(f"{name} was {request.headers.get(name)!r}, expected {value!r}")
        params_header = PARAMS_HEADERS.get(self.flavour)
        if params_header and self.params is not None:
            sent = request.headers.get(params_header)
            if self._decode_params(sent) != self.params:
                self._mismatch(
                    f"{params_header} was {sent!r}, expected {self.params_encoding} "
                    f"of {self.params!r}"
                )
        stray = [n for n in request.headers if "params" in n and n != params_header]
        if stray or (params_header in request.headers and self.params is None):
            self._mismatch(f"unexpected params header(s): {stray or [params_header]}")

    def _decode_params(self, sent: str | None) -> Any:
        if not sent:
            return None
        try:
            text = (
                base64.b64decode(sent, validate=True) if self.params_encoding == "base64" else sent
            )
            return json.loads(text)
        except (binascii.Error, ValueError):
            return None

    def _check_query(self, query: dict[str, str], allowed: set[str]) -> None:
        """Azure's dated API needs ``api-version`` (and the v1 API takes one only if the
        connection named it); elsewhere only the list call's own parameters are known."""
        named = (self.params or {}).get("api_version") if self.flavour == "azure" else None
        expected = (named or AZURE_API_VERSION) if self.spec.api_version else named
        if expected is not None and query.get("api-version") != expected:
            self._mismatch(f"api-version was {query.get('api-version')!r}, expected {expected!r}")
        unknown = set(query) - allowed - ({"api-version"} if expected else set())
        if unknown:
            self._mismatch(f"unexpected query parameter(s) {sorted(unknown)}")

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
                self._batches[batch_id] = self._build(batch_id, script[0])
            return current

    def _build(self, batch_id: str, status: str) -> dict[str, Any]:
        batch = SHAPES[self.spec.shape](batch_id, status)
        if batch.get("results_url"):  # Anthropic's results, here on this stand-in
            batch["results_url"] = self.output_file_id(batch_id)
        batch.update(self._fields.get(batch_id, {}))
        return batch

    # --- the list call -------------------------------------------------------------------

    def _list(self, request: Request, path: str, query: dict[str, str]) -> Answer:
        with self._lock:
            self.list_requests.append(request)
            batches = list(self._batches.values())[::-1]  # newest first
        if self.spec.trailing_slash != path.endswith("/"):
            self._mismatch(f"list path {path} (trailing slash: {self.spec.trailing_slash})")
        if not self._authorised(request):
            return json_answer(401, self.error_body(401))
        self._check_headers(request)
        self._check_query(query, LIST_QUERY[self.spec.lists])
        return json_answer(200, list_page(self.spec.lists, batches, query))

    def _mismatch(self, text: str) -> None:
        with self._lock:
            self.mismatches.append(text)


def list_page(style: str, batches: list[dict[str, Any]], query: dict[str, str]) -> Any:
    """One page of ``batches`` (newest first) in the provider's list shape."""
    if style == "array":
        return batches
    if style == "page":
        page, size = int(query.get("page", 0)), int(query.get("page_size", 100))
        return {
            "object": "list",
            "data": batches[page * size : (page + 1) * size],
            "total": len(batches),
        }
    ids = [b["id"] for b in batches]
    after = query.get("after_id" if style == "anthropic" else "after")
    start = ids.index(after) + 1 if after in ids else 0
    limit = int(query.get("limit", 20))
    data = batches[start : start + limit]
    page: dict[str, Any] = {
        "data": data,
        "has_more": start + limit < len(batches),
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
    return page if style == "anthropic" else {"object": "list", **page}


# --- error bodies --------------------------------------------------------------------------

MESSAGES = {
    400: "Invalid request",
    401: "Incorrect API key provided.",
    403: "Permission denied",
    404: "Not found",
    429: "Rate limit reached",
    500: "Something went wrong",
    503: "Service unavailable",
    529: "Overloaded",
}
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_body(style: str, code: int, message: str) -> Any:
    """The error body of each provider family for ``code``."""
    if style == "string401" and code == 401:
        return {"error": "Authentication credentials were not provided."}
    if style == "portkey" and code >= 500:
        return {"status": "failure", "message": message}
    if style == "anthropic":
        kind = ANTHROPIC_ERROR_TYPES.get(code, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    if style == "azure":
        return {"error": {"code": str(code), "message": message}}
    if style == "mistral":
        if code == 401:
            return {"message": "Unauthorized", "request_id": "req-stub"}
        return {"object": "error", "message": message, "type": "invalid_request_error"}
    kind = "rate_limit_exceeded" if code == 429 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def not_found_body(batch_id: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"No such batch: {batch_id}",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


# --- batch objects -------------------------------------------------------------------------


def batch_object(batch_id: str, status: str, **fields: Any) -> dict[str, Any]:
    """An OpenAI batch object as the retrieve call returns it (LiteLLM's ``complete`` too),
    with the time of each terminal status."""
    now = int(time.time())
    done = status in ("completed", "complete")
    batch = openai_batch(
        batch_id,
        status,
        done=done,
        now=now,
        created_at=now - 60,
        in_progress_at=now - 30 if status != "validating" else None,
        expires_at=now + DAY_S,
        request_counts={"total": 10, "completed": 10 if done else 4, "failed": 0},
        metadata={"origin": "provider-stub"},
    )
    for ended in ("failed", "expired", "cancelled"):
        batch[f"{ended}_at"] = now if status == ended else None
    batch.update(fields)
    return batch


def azure_object(batch_id: str, status: str) -> dict[str, Any]:
    """OpenAI's object as Azure answers it: no ``/v1`` in ``endpoint``, maybe no expiry."""
    return batch_object(batch_id, status, endpoint="/chat/completions", expires_at=None)


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def anthropic_object(batch_id: str, status: str) -> dict[str, Any]:
    """A Message Batch; ``ended`` with every request succeeded unless fields say otherwise."""
    now = time.time()
    ended = status == "ended"
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": {
            "processing": 0 if ended else 10,
            "succeeded": 10 if ended else 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        },
        "ended_at": rfc3339(now) if ended else None,
        "created_at": rfc3339(now - 60),
        "expires_at": rfc3339(now + 86400),
        "archived_at": None,
        "cancel_initiated_at": rfc3339(now - 5) if status == "canceling" else None,
        "results_url": OUTPUTS["anthropic"].format(id=batch_id, base=ANTHROPIC_BASE)
        if ended
        else None,
    }


def mistral_object(batch_id: str, status: str) -> dict[str, Any]:
    now = int(time.time())
    done = status == "SUCCESS"
    return {
        "id": batch_id,
        "object": "batch",
        "input_files": [f"file-in-{batch_id}"],
        "metadata": {"origin": "provider-stub"},
        "endpoint": "/v1/chat/completions",
        "model": "mistral-small-latest",
        "output_file": f"file-out-{batch_id}" if done else None,
        "error_file": None,
        "errors": [],
        "status": status,
        "created_at": now - 60,
        "total_requests": 10,
        "completed_requests": 10 if done else 4,
        "succeeded_requests": 10 if done else 4,
        "failed_requests": 0,
        "started_at": now - 30,
        "completed_at": now if done else None,
    }


def together_object(batch_id: str, status: str) -> dict[str, Any]:
    now = time.time()
    done = status == "COMPLETED"
    return {
        "id": batch_id,
        "user_id": "user-stub",
        "input_file_id": f"file-in-{batch_id}",
        "file_size_bytes": 1024,
        "status": status,
        "job_deadline": rfc3339(now + 86400),
        "created_at": rfc3339(now - 60),
        "endpoint": "/v1/chat/completions",
        "progress": 100.0 if done else 40.0,
        "model_id": "meta-llama/Llama-3-8b-chat-hf",
        "output_file_id": f"file-out-{batch_id}" if done else None,
        "error_file_id": None,
        "error": None,
        "completed_at": rfc3339(now) if done else None,
    }


def bedrock_object(batch_id: str, status: str) -> dict[str, Any]:
    """Portkey's mapping of a Bedrock invocation job: Bedrock's words, times in ms."""
    now_ms = int(time.time() * 1000)
    return {
        "id": batch_id,
        "object": "batch",
        "created_at": now_ms - 60_000,
        "status": status,
        "input_file_id": f"s3://batch-bucket/in/{batch_id}.jsonl",
        "output_file_id": OUTPUTS["bedrock"].format(id=batch_id),
        "finalizing_at": now_ms,
        "expires_at": now_ms + 86_400_000,
    }


SHAPES: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "openai": batch_object,
    "azure": azure_object,
    "anthropic": anthropic_object,
    "mistral": mistral_object,
    "together": together_object,
    "bedrock": bedrock_object,
}
ANTHROPIC_BASE = "https://api.anthropic.com/v1"
OUTPUTS = {
    "anthropic": "{base}/messages/batches/{id}/results",
    "bedrock": "s3://batch-bucket/out/{id}/",
}
