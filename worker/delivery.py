"""Build, sign and POST one delivery attempt, and classify the answer.

The only module that sends webhooks. It never follows redirects, gives each attempt a
timeout, and turns the answer into an ``AttemptOutcome`` the store records.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import structlog

from worker import backoff, signing
from worker.destinations import check_url
from worker.errors import InputError
from worker.store import DeliveryJob

log = structlog.get_logger()

USER_AGENT = "batchhook/0.1 (+https://www.standardwebhooks.com)"
MAX_ERROR_CHARS = 300
RESPONSE_EXCERPT_BYTES = 500


@dataclass(frozen=True)
class AttemptOutcome:
    """What happened, and what happens next: 'succeeded', 'retry' or 'failed'."""

    outcome: str
    next_attempt_at: float | None
    record: dict[str, Any]
    disable_endpoint: bool = False
    attempted: bool = True  # False when refused without a request (counts for no health)


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    headers: dict[str, str]
    latency_ms: float
    error: str | None
    response: str | None = None  # the first bytes of the body, decoded leniently


def excerpt(body: bytes) -> str:
    """The start of a response body as text, whatever its encoding."""
    return body[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace")


def classify(
    answer: Answer, *, attempt: int, now: float, schedule_s: tuple[float, ...]
) -> AttemptOutcome:
    """Pure: 2xx succeeds, 410 disables the endpoint, anything else is retried."""
    record: dict[str, Any] = {
        "attempt": attempt,
        "at": now,
        "status_code": answer.status_code,
        "latency_ms": round(answer.latency_ms, 1),
        "response": answer.response,
        "error": answer.error,
    }
    code = answer.status_code
    if code is not None and 200 <= code < 300:
        return AttemptOutcome("succeeded", None, record)
    if code == 410:
        record["error"] = "410 Gone: endpoint disabled"
        return AttemptOutcome("failed", None, record, disable_endpoint=True)
    retry_after_s = backoff.parse_retry_after_s(answer.headers, now=now)
    delay_s = backoff.retry_delay_s(schedule_s, attempt, retry_after_s=retry_after_s)
    if delay_s is None:
        return AttemptOutcome("failed", None, record)
    record["next_attempt_at"] = now + delay_s
    return AttemptOutcome("retry", now + delay_s, record)


def refused(job: DeliveryJob, reason: str, *, now: float) -> AttemptOutcome:
    """An attempt that was not made: deleted or disabled endpoint, forbidden address."""
    record = {
        "attempt": job.round_attempts + 1,
        "at": now,
        "status_code": None,
        "latency_ms": 0.0,
        "response": None,
        "error": reason,
    }
    return AttemptOutcome("failed", None, record, attempted=False)


async def _read_excerpt(response: httpx.Response) -> bytes:
    """Read no more of the body than the excerpt keeps."""
    head = b""
    async for chunk in response.aiter_bytes():
        head += chunk
        if len(head) >= RESPONSE_EXCERPT_BYTES:
            break
    return head


async def _send(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: bytes, timeout_s: float
) -> tuple[httpx.Response, bytes]:
    request = client.build_request("POST", url, content=body, headers=headers, timeout=timeout_s)
    response = await client.send(request, stream=True, follow_redirects=False)
    try:
        return response, await _read_excerpt(response)
    finally:
        await response.aclose()


def failure_reason(exc: BaseException) -> str:
    """What went wrong, for the attempt log. httpx-aiohttp reports every failure to
    connect (refused, unresolvable, a private address) as ConnectTimeout, so the cause
    decides what is a timeout."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException) and not isinstance(
        exc.__cause__, aiohttp.ClientConnectorError
    ):
        return "timeout"
    name = "ConnectError" if isinstance(exc.__cause__, aiohttp.ClientConnectorError) else None
    return f"{name or type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


async def post(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: bytes, timeout_s: float
) -> Answer:
    """POST once. ``timeout_s`` bounds the whole exchange, so a subscriber that trickles
    its answer cannot hold the attempt (or the others sent beside it) any longer."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            response, head = await _send(client, url, headers, body, timeout_s)
    except (TimeoutError, httpx.HTTPError) as exc:
        return Answer(None, {}, (time.perf_counter() - started) * 1000, failure_reason(exc))
    latency_ms = (time.perf_counter() - started) * 1000
    error: str | None = None
    if not 200 <= response.status_code < 300:
        error = f"HTTP {response.status_code}"
        if 300 <= response.status_code < 400:
            error += " (redirects are not followed)"
    return Answer(response.status_code, dict(response.headers), latency_ms, error, excerpt(head))


async def attempt(
    client: httpx.AsyncClient,
    job: DeliveryJob,
    *,
    timeout_s: float,
    schedule_s: tuple[float, ...],
    allow_private: bool,
) -> AttemptOutcome:
    now = time.time()
    endpoint = job.endpoint
    if endpoint is None:
        return refused(job, "endpoint deleted", now=now)
    if endpoint.disabled:
        return refused(job, f"endpoint disabled: {endpoint.disabled_reason}", now=now)
    try:
        # Names are judged on connect, by the client's resolver: no blocking DNS here.
        check_url(endpoint.url, allow_private=allow_private, resolve=False)
    except InputError as exc:
        return refused(job, str(exc), now=now)
    body = job.body.encode()
    headers = signing.webhook_headers(endpoint.signing_secrets(now), job.event_id, int(now), body)
    headers["user-agent"] = USER_AGENT
    answer = await post(client, endpoint.url, headers, body, timeout_s)
    outcome = classify(answer, attempt=job.round_attempts + 1, now=now, schedule_s=schedule_s)
    log.info(
        "webhook_attempted",
        outcome=outcome.outcome,
        status_code=answer.status_code,
        latency_ms=round(answer.latency_ms, 1),
        error=answer.error,
    )
    return outcome
