"""Build, sign and POST (or publish) one delivery attempt, and classify the answer.

The only module that sends webhooks (``WebhookSender``, through ``worker.http1``, and
``queues.QueuePublisher`` for queue destinations). It never follows redirects, gives
each attempt a timeout, and turns the answer into an ``AttemptOutcome`` the store
records.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import structlog
from aiohttp.abc import AbstractResolver

from worker import backoff, signing
from worker.destinations import check_destination, guarded_client, is_queue_url
from worker.errors import InputError
from worker.http1 import Http1Client, HttpClientError
from worker.queues import QueueError, QueuePublisher
from worker.records import frozen
from worker.store import DeliveryJob

log = structlog.get_logger()

USER_AGENT = "batchhook/0.1 (+https://www.standardwebhooks.com)"
MAX_ERROR_CHARS = 300
RESPONSE_EXCERPT_BYTES = 500


@frozen
class AttemptOutcome:
    """What happened, and what happens next: 'succeeded', 'retry' or 'failed'."""

    outcome: str
    next_attempt_at: float | None
    record: dict[str, Any]
    disable_endpoint: bool = False
    attempted: bool = True  # False when refused without a request (counts for no health)


@frozen
class Answer:
    status_code: int | None
    headers: dict[str, str]
    latency_ms: float
    error: str | None
    response: str | None = None  # the first bytes of the body, decoded leniently
    accepted: bool = False  # a queue server took the message (queues have no status code)


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
    if answer.accepted or (code is not None and 200 <= code < 300):
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


DELIVERY_CONCURRENCY = 100  # attempts in flight per worker process, and its pool size


class WebhookSender:
    """The one way webhooks leave a worker process: a shared ``Http1Client`` (made on
    first use, inside the event loop) that connects only to public addresses unless
    ``allow_private``, never follows redirects, and has at most ``concurrency`` POSTs in
    flight. Each attempt's timeout starts once it has its slot, so attempts queued behind
    a large fan-out never time out against a healthy subscriber."""

    def __init__(
        self,
        *,
        allow_private: bool,
        concurrency: int = DELIVERY_CONCURRENCY,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.concurrency = concurrency
        self.resolver = resolver
        self._slots = asyncio.Semaphore(concurrency)
        self._client: Http1Client | None = None
        self.queues = QueuePublisher(allow_private=allow_private)

    def client(self) -> Http1Client:
        if self._client is None or self._client.closed:
            self._client = guarded_client(
                limit=self.concurrency, allow_private=self.allow_private, resolver=self.resolver
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        await self.queues.aclose()

    async def publish(
        self, url: str, headers: dict[str, str], body: bytes, timeout_s: float
    ) -> Answer:
        """Publish once to a queue destination; accepted once the server has taken it."""
        async with self._slots:
            started = time.perf_counter()
            try:
                receipt = await self.queues.publish(url, headers, body, timeout_s)
            except QueueError as exc:
                return Answer(None, {}, (time.perf_counter() - started) * 1000, str(exc))
        latency_ms = (time.perf_counter() - started) * 1000
        return Answer(None, {}, latency_ms, None, receipt, accepted=True)

    async def post(
        self, url: str, headers: dict[str, str], body: bytes, timeout_s: float
    ) -> Answer:
        """POST once. ``timeout_s`` bounds the whole exchange, so a subscriber that
        trickles its answer cannot hold the attempt any longer."""
        async with self._slots:
            started = time.perf_counter()
            try:
                answer = await self.client().request(
                    "POST",
                    url,
                    headers,
                    body,
                    timeout_s=timeout_s,
                    max_body_bytes=RESPONSE_EXCERPT_BYTES,
                )
            except (TimeoutError, HttpClientError) as exc:
                elapsed_ms = (time.perf_counter() - started) * 1000
                return Answer(None, {}, elapsed_ms, failure_reason(exc))
        latency_ms = (time.perf_counter() - started) * 1000
        status, error = answer.status_code, None
        if not 200 <= status < 300:
            error = f"HTTP {status}"
            if 300 <= status < 400:
                error += " (redirects are not followed)"
        return Answer(status, dict(answer.headers), latency_ms, error, excerpt(answer.body))


def failure_reason(exc: BaseException) -> str:
    """What went wrong, for the attempt log: 'timeout', or the error's kind and text."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    kind = exc.kind if isinstance(exc, HttpClientError) else type(exc).__name__
    return f"{kind}: {exc}"[:MAX_ERROR_CHARS]


@functools.lru_cache(maxsize=4096)
def destination_refusal(url: str, allow_private: bool) -> str | None:
    """Why no event may go to ``url``, None when it may. Judged without DNS (names are
    judged on connect, by the client's resolver), so the answer only depends on the URL:
    cached, as an endpoint's URL is judged again on every attempt."""
    try:
        check_destination(url, allow_private=allow_private, resolve=False)
    except InputError as exc:
        return str(exc)
    return None


async def attempt(
    sender: WebhookSender,
    job: DeliveryJob,
    *,
    timeout_s: float,
    schedule_s: tuple[float, ...],
    allow_private: bool,
    body: str | None = None,
) -> AttemptOutcome:
    """One attempt of ``job``, sending ``body`` (its stored body when None)."""
    now = time.time()
    endpoint = job.endpoint
    if endpoint is None:
        return refused(job, "endpoint deleted", now=now)
    if endpoint.disabled:
        return refused(job, f"endpoint disabled: {endpoint.disabled_reason}", now=now)
    refusal = destination_refusal(endpoint.url, allow_private)
    if refusal is not None:
        return refused(job, refusal, now=now)
    sent = (job.body if body is None else body).encode()
    headers = signing.webhook_headers(endpoint.signing_secrets(now), job.event_id, int(now), sent)
    if is_queue_url(endpoint.url):
        answer = await sender.publish(endpoint.url, headers, sent, timeout_s)
    else:
        headers["user-agent"] = USER_AGENT
        answer = await sender.post(endpoint.url, headers, sent, timeout_s)
    outcome = classify(answer, attempt=job.round_attempts + 1, now=now, schedule_s=schedule_s)
    # A success is a debug line: at thousands of webhooks a second, a line each would be
    # most of the log and a few per cent of the worker's CPU (the attempt is on record either
    # way: the API, the dashboard and `batchhook status` show it). Any other outcome is info.
    (log.debug if outcome.outcome == "succeeded" else log.info)(
        "webhook_attempted",
        outcome=outcome.outcome,
        status_code=answer.status_code,
        latency_ms=round(answer.latency_ms, 1),
        error=answer.error,
    )
    return outcome
