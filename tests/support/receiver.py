"""A subscriber's webhook endpoint that verifies every delivery as real receivers would.

Each webhook is checked twice: with the ``standardwebhooks`` library and with the ``openai``
SDK's ``client.webhooks.unwrap``, the two ways users verify batchhook's webhooks unchanged.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai
import standardwebhooks

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


class Receiver(LoopbackService):
    def __init__(self) -> None:
        self.secret: str | None = None
        self.received: list[Received] = []
        self._answers: deque[Reply] = deque()
        self._hangs: deque[float] = deque()
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._handle)
        self.url = f"{self._server.url}/hooks"

    def respond_with(self, *answers: Reply) -> None:
        """Answer the next deliveries with these statuses (then 200 again)."""
        with self._lock:
            self._answers.extend(answers)

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

    def _handle(self, request: Request) -> Answer:
        received = self._verify(request)
        with self._lock:
            self.received.append(received)
            hang = self._hangs.popleft() if self._hangs else 0.0
            reply = self._answers.popleft() if self._answers else 200
        if hang:
            time.sleep(hang)  # a subscriber that is slow to answer, on purpose
        status, headers = reply if isinstance(reply, tuple) else (reply, {})
        return Answer(status, b"ok", headers)

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
            client = openai.OpenAI(api_key="unused", webhook_secret=self.secret)
            unwrapped = client.webhooks.unwrap(request.body, request.headers)
            unwrapped_type = str(unwrapped.type)
        except Exception as failure:
            error = f"{type(failure).__name__}: {failure}"
        return Received(
            headers=request.headers,
            body=request.body,
            json=parsed,
            at=time.monotonic(),
            verified=error is None,
            verify_error=error,
            unwrapped_type=unwrapped_type,
        )
