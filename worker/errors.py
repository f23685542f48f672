"""Every exception batchhook raises on purpose.

    BatchhookError
     ├── ConfigError                 settings that cannot work (missing secret key, ...)
     ├── InputError                  bad input from an API caller or the CLI
     │    ├── NotFound               an object that does not exist for this tenant
     │    └── Conflict               the request clashes with stored state
     ├── Retryable                   try again later (provider 429/5xx, timeouts, resets)
     │    └── ProviderUnavailable
     └── Permanent                   retrying will not help
          └── ProviderRejected       404 unknown batch, 401/403 revoked key

Provider errors carry ``batch_id``, ``status_code`` and ``retry_after_s`` so the poll
path can schedule the next attempt without parsing strings.
"""

from __future__ import annotations


class BatchhookError(Exception):
    """Root of every batchhook exception."""


class ConfigError(BatchhookError):
    """Settings that cannot work."""


class InputError(BatchhookError):
    """Bad input from a caller; maps to HTTP 4xx."""

    status_code = 422
    error_type = "invalid_request_error"


class NotFound(InputError):
    status_code = 404
    error_type = "not_found"


class Conflict(InputError):
    status_code = 409
    error_type = "conflict"


class ProviderError(BatchhookError):
    """A retrieve call that did not give a batch object."""

    def __init__(
        self,
        message: str,
        *,
        batch_id: str,
        status_code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.batch_id = batch_id
        self.status_code = status_code
        self.retry_after_s = retry_after_s


class Retryable(ProviderError):
    """Worth trying again later."""


class ProviderUnavailable(Retryable):
    """Rate limited, overloaded, a 5xx, a timeout or a broken connection."""


class Permanent(ProviderError):
    """Retrying will not help."""


class ProviderRejected(Permanent):
    """The provider says the batch does not exist or the key is not valid."""
