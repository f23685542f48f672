"""What the sync and async clients share around sending: the request, the retry
decision, and turning a failure into the error tree. No I/O of its own."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

import httpx

from batchhook_client import _retries
from batchhook_client._calls import Call
from batchhook_client._version import __version__
from batchhook_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    error_class,
)

USER_AGENT = f"batchhook-client/{__version__}"
REDACTED = "[redacted]"
MESSAGE_MAX_CHARS = 500


class Core:
    """The settings of one client and the decisions made from them."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float | httpx.Timeout,
        max_retries: int,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.max_retries = max(0, max_retries)

    def __repr__(self) -> str:
        return f"<batchhook {self.base_url}>"  # never the token

    def request(self, http: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
        return http.build_request(
            call.method,
            self.base_url + call.path,
            json=call.json,
            params=call.params,
            headers={
                "authorization": f"Bearer {self._token}",
                "user-agent": USER_AGENT,
                "accept": "application/json",
            },
            timeout=self.timeout,
        )

    def wait_after_status(
        self, call: Call[Any], response: httpx.Response, retry: int
    ) -> float | None:
        """Seconds to wait before trying again, or None: give up."""
        if retry >= self.max_retries:
            return None
        if not _retries.retries_status(response.status_code, idempotent=call.repeatable):
            return None
        asked_s = _retries.retry_after_s(response.headers, now=time.time())
        return _retries.delay_s(retry, asked_s, jitter=random.random())  # noqa: S311 - jitter, not a secret

    def wait_after_error(
        self, call: Call[Any], error: httpx.TransportError, retry: int
    ) -> float | None:
        if retry >= self.max_retries:
            return None
        if not _retries.retries_error(error, idempotent=call.repeatable):
            return None
        return _retries.delay_s(retry, None, jitter=random.random())  # noqa: S311 - jitter, not a secret

    def redact(self, text: str, call: Call[Any]) -> str:
        for secret in (self._token, *call.secrets):
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    def connection_error(self, call: Call[Any], error: httpx.TransportError) -> APIConnectionError:
        kind = APITimeoutError if isinstance(error, httpx.TimeoutException) else APIConnectionError
        what = "timed out" if kind is APITimeoutError else "failed"
        detail = self.redact(str(error) or type(error).__name__, call)
        return kind(f"{call.method} {self.base_url}{call.path} {what}: {detail}")

    def status_error(self, call: Call[Any], response: httpx.Response) -> APIStatusError:
        """The error for a read error answer (its body read)."""
        body = _body(response)
        error = body.get("error") if isinstance(body, Mapping) else None
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            message, error_type = str(error["message"]), error.get("type")
        else:
            message = response.text[:MESSAGE_MAX_CHARS] or response.reason_phrase
            error_type = None
        return error_class(response.status_code)(
            self.redact(message, call),
            status_code=response.status_code,
            type=error_type if isinstance(error_type, str) else None,
            request_id=response.headers.get("x-request-id"),
            body=body,
            retry_after_s=_retries.retry_after_s(response.headers, now=time.time()),
        )


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text or None
