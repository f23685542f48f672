"""Every error the client raises, in one tree::

    BatchhookError
     ├── APIConnectionError          the API could not be reached, or the answer was cut
     │    └── APITimeoutError        no answer within the timeout
     ├── APIStatusError              the API answered 4xx or 5xx: status_code, type, message,
     │    │                          request_id, body, retry_after_s
     │    ├── BadRequestError            400
     │    ├── AuthenticationError        401
     │    ├── PermissionDeniedError      403
     │    ├── NotFoundError              404
     │    ├── ConflictError              409
     │    ├── UnprocessableEntityError   422
     │    ├── RateLimitError             429
     │    └── InternalServerError        500 and above
     ├── APIResponseError            a 2xx answer that is not the JSON expected
     └── WebhookVerificationError    ``webhooks.verify``: bad signature, stale timestamp, ...

Messages never contain the API token or the secrets of a request (``api_key``, ...).
"""

from __future__ import annotations

from typing import Any


class BatchhookError(Exception):
    """The root: ``except BatchhookError`` catches everything this package raises."""


class APIConnectionError(BatchhookError):
    """No usable answer: connection refused or reset, DNS failure, a truncated body."""


class APITimeoutError(APIConnectionError):
    """The API did not answer within the client's ``timeout``."""


class APIResponseError(BatchhookError):
    """A successful status whose body is not the JSON the call expects."""


class WebhookVerificationError(BatchhookError):
    """A webhook whose signature, timestamp or body does not check out."""


class APIStatusError(BatchhookError):
    """The API answered with an error status; ``type`` and ``message`` are the API's
    ``{"error": {"type", "message"}}``, ``request_id`` its ``x-request-id`` header."""

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        type: str | None,
        request_id: str | None,
        body: Any,
        retry_after_s: float | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.type = type
        self.request_id = request_id
        self.body = body
        self.retry_after_s = retry_after_s
        super().__init__(message)

    def __str__(self) -> str:
        kind = f" {self.type}" if self.type else ""
        request = f" (request {self.request_id})" if self.request_id else ""
        return f"{self.status_code}{kind}: {self.message}{request}"


class BadRequestError(APIStatusError):
    """400."""


class AuthenticationError(APIStatusError):
    """401: no token, or one that is unknown or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: for example a tampered or expired result link."""


class NotFoundError(APIStatusError):
    """404: no such object for this tenant."""


class ConflictError(APIStatusError):
    """409: for example a batch already watched through another connection."""


class UnprocessableEntityError(APIStatusError):
    """422: the request body or query was refused; nothing was changed."""


class RateLimitError(APIStatusError):
    """429: too many requests with this token; ``retry_after_s`` says when to retry."""


class InternalServerError(APIStatusError):
    """500 and above (503 while the API's storage is unreachable)."""


STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class(status_code: int) -> type[APIStatusError]:
    if status_code >= 500:
        return InternalServerError
    return STATUS_ERRORS.get(status_code, APIStatusError)
