"""Every exception batchhook raises on purpose.

    BatchhookError
     ├── ConfigError                 settings that cannot work (missing secret key, ...)
     ├── InputError                  bad input from an API caller or the CLI
     │    ├── NotFound               an object that does not exist for this tenant
     │    ├── Conflict               the request clashes with stored state
     │    ├── Forbidden              a signed link that is tampered with or expired
     │    └── InvalidSignature       a webhook whose signature does not verify
     ├── StoreUnavailable            Redis did not answer (or refused): try again later
     └── ProviderError               a provider call that did not give a batch object
                                     (or, fetching results, the file)
          ├── Retryable              try again later (provider 429/5xx, timeouts, resets)
          │    └── ProviderUnavailable
          └── Permanent              retrying will not help
               └── ProviderRejected  404 unknown batch, 401/403 revoked key

Provider errors carry ``batch_id``, ``status_code`` and ``retry_after_s`` so the poll
path can schedule the next attempt without parsing strings. ``StoreUnavailable`` is
the only exception the store lets out for a Redis failure (redis-py's own stay inside
``worker/store``); the API answers it with 503 and ``retry-after``.
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


class Forbidden(InputError):
    status_code = 403
    error_type = "permission_error"


class InvalidSignature(InputError):
    status_code = 401
    error_type = "invalid_signature"


class StoreUnavailable(BatchhookError):
    """Redis could not carry out a store operation (down, unreachable, timed out, out of
    memory, read-only after a failover): the operation may or may not have happened;
    every store operation is safe to retry."""

    retry_after_s = 5


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
