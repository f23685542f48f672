"""A subscriber's webhook endpoint that verifies every delivery as real receivers would.

Each webhook is checked twice: with the ``standardwebhooks`` library and with the ``openai``
SDK's ``client.webhooks.unwrap``, the two ways users verify batchhook's webhooks unchanged.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai
import standardwebhooks

from tests.support.faults import Chaos
from tests.support.http_server import Answer, LoopbackServer, LoopbackService, Request
from tests.support.waiting import wait_until

Reply = int | tuple[int, dict[str, str]]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    json: Any
    at: float
    verified: bool
    verify_error: str | None
    unwrapped_type: str | None
    delivered: bool = False  # answered 2xx before the sender's timeout
    received_at: float = 0.0  # wall clock, to set beside the provider stand-in's requests


@functools.cache
def _openai_client(secret: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="unused", webhook_secret=secret)


class Receiver(LoopbackService):
    def __init__(self) -> None:
        self.secret: str | None = None
        self.received: list[Received] = []
        # Requests not meant for this endpoint: another test's stray poll or delivery to a
        # port the OS has handed out again. Answered 404, as a real server would.
        self.strays: list[Request] = []
        self._answers: deque[Reply] = deque()
        self._hangs: deque[float] = deque()
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._handle)
        self._path = f"/hooks/{secrets.token_hex(4)}"
        self.url = f"{self._server.url}{self._path}"
        self.chaos: Chaos | None = None  # random faults, see _faulty
        self.sender_timeout_s = 2.0  # the stack's BATCHHOOK_DELIVERY_TIMEOUT_S

    def respond_with(self, *answers: Reply) -> None:
        """Answer the next deliveries with these statuses (then 200 again)."""
        with self._lock:
            self._answers.extend(answers)

    def answer_ok_from_now(self) -> None:
        """Drop the statuses still queued by ``respond_with``: 200 from the next one."""
        with self._lock:
            self._answers.clear()

    def hang_next(self, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._hangs.extend([seconds] * times)

    def wait_for(
        self,
        count: int = 1,
        timeout_s: float = 15,
        predicate: Callable[[Received], bool] | None = None,
    ) -> list[Received]:
        def enough() -> list[Received] | None:
            with self._lock:
                found = [r for r in self.received if predicate is None or predicate(r)]
            return found if len(found) >= count else None

        return wait_until(
            enough, timeout_s=timeout_s, message=f"fewer than {count} webhooks arrived"
        )

    def delivered(self) -> list[Received]:
        """The webhooks this endpoint accepted (answered 2xx in time)."""
        with self._lock:
            return [r for r in self.received if r.delivered]

    def _handle(self, request: Request) -> Answer:
        if request.method != "POST" or request.path != self._path:
            with self._lock:
                self.strays.append(request)
            return Answer(404, b"not found")
        received = self._verify(request)
        with self._lock:
            self.received.append(received)
            hang = self._hangs.popleft() if self._hangs else 0.0
            reply = self._answers.popleft() if self._answers else 200
        fault = self.chaos.draw() if self.chaos else None
        status, headers = reply if isinstance(reply, tuple) else (reply, {})
        answer = self._faulty(fault) if fault else Answer(status, b"ok", headers, delay_s=hang)
        in_time = answer.delay_s < self.sender_timeout_s
        received.delivered = 200 <= answer.status < 300 and not answer.fault and in_time
        return answer

    def _faulty(self, fault: str) -> Answer:
        """A subscriber in trouble: 500, a hang past the timeout, a reset connection, a
        slow (but in time) 200, or a redirect (which is not followed: a failure)."""
        assert self.chaos is not None
        if fault == "500":
            return Answer(500, b"internal error")
        if fault == "timeout":
            return Answer(200, b"too late", delay_s=self.sender_timeout_s + 1.0)
        if fault == "reset":
            return Answer(200, fault="reset")
        if fault == "slow":
            return Answer(200, b"ok", delay_s=self.chaos.slow_delay_s())
        if fault == "redirect":
            return Answer(302, b"", {"location": f"{self.url}/moved"})
        raise ValueError(f"unknown receiver fault {fault!r}")

    def _verify(self, request: Request) -> Received:
        try:
            parsed = json.loads(request.body)
        except ValueError:
            parsed = None
        error: str | None = None
        unwrapped_type: str | None = None
        try:
            if self.secret is None:
                raise ValueError("the receiver has no secret to verify with")
            standardwebhooks.Webhook(self.secret).verify(request.body, request.headers)
            unwrapped = _openai_client(self.secret).webhooks.unwrap(request.body, request.headers)
            unwrapped_type = str(unwrapped.type)
        except Exception as failure:
            error = f"{type(failure).__name__}: {failure}"
        return Received(
            headers=request.headers,
            body=request.body,
            json=parsed,
            at=time.monotonic(),
            received_at=request.received_at,
            verified=error is None,
            verify_error=error,
            unwrapped_type=unwrapped_type,
        )
