"""The nouns of batchhook: statuses, event types and the normalised snapshot."""

from __future__ import annotations

import enum
import re
from dataclasses import field
from typing import Any

from worker.destinations import masked_url
from worker.records import frozen


class BatchStatus(enum.StrEnum):
    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.EXPIRED, BatchStatus.CANCELLED}
)

WATCH_FAILED = "batch.watch_failed"
WEBHOOK_TEST = "webhook.test"
ENDPOINT_DISABLED = "endpoint.disabled"  # opt-in: sent to a tenant's other endpoints
PROGRESS = "batch.progress"  # opt-in, like every signal (worker/signals.py)
EXPIRING = "batch.expiring"
STALLED = "batch.stalled"
RESUMED = "batch.resumed"
SIGNAL_EVENT_TYPES = (PROGRESS, EXPIRING, STALLED, RESUMED)
DEFAULT_EVENT_TYPES = tuple(f"batch.{s.value}" for s in BatchStatus if s.is_terminal)
OPT_IN_EVENT_TYPES = tuple(f"batch.{s.value}" for s in BatchStatus if not s.is_terminal)
EVENT_TYPES = frozenset(
    {
        *DEFAULT_EVENT_TYPES,
        *OPT_IN_EVENT_TYPES,
        *SIGNAL_EVENT_TYPES,
        WATCH_FAILED,
        WEBHOOK_TEST,
        ENDPOINT_DISABLED,
    }
)

PROVIDERS = (
    "openai",
    "openai_compatible",
    "keywordsai",
    "respan",
    "portkey",
    "azure",
    "anthropic",
    "mistral",
    "together",
    "groq",
    "litellm",
)


def event_type_for(status: str) -> str:
    return f"batch.{status}"


UNKNOWN_STATUS = "unknown"


@frozen
class Snapshot:
    """One retrieve answer, normalised across providers.

    ``status`` is the normalised status (a ``BatchStatus`` value, or ``"unknown"`` for a
    word no mapping knows); ``provider_status`` is the provider's own word, which is what
    a change is detected on and what events carry as ``data.status``. ``request_counts``
    has OpenAI's shape (``total``, ``completed``, ``failed``) whatever the provider; times
    are Unix seconds.
    """

    batch_id: str
    status: str
    output_file_id: str | None
    error_file_id: str | None
    request_counts: dict[str, int] | None
    raw: dict[str, Any] = field(repr=False)
    provider_status: str = ""
    created_at: float | None = None
    expires_at: float | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def names_result_files(self) -> bool:
        """Whether the answer names an output or error file: only then is the raw object
        kept (the result links fetch with it); the summary serves everything else."""
        return self.output_file_id is not None or self.error_file_id is not None

    @property
    def word(self) -> str:
        """The provider's own status word (the normalised one when it gave none)."""
        return self.provider_status or self.status

    def summary(self, now: float) -> dict[str, Any]:
        """What the store keeps beside the raw object, in one shape for every provider."""
        return {
            "normalized_status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "request_counts": self.request_counts,
            "batch_created_at": self.created_at,
            "expires_at": self.expires_at,
            "observed_at": now,
        }


SENSITIVE_HEADER = re.compile(
    r"(^|[-_])(apikey|key|auth\w*|token|secret|passw\w*|cookie|signature|credentials?|config)"
    r"($|[-_])",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def redacted_headers(headers: dict[str, str]) -> dict[str, str]:
    """Header names with the values of anything that may carry a credential hidden."""
    return {
        name: REDACTED if SENSITIVE_HEADER.search(name) else value
        for name, value in headers.items()
    }


@frozen
class Discovery:
    """One successful listing of a watch_all connection's account."""

    at: float
    listed: int  # the batches the list pages held
    registered: int  # of them, the ones it started watching


@frozen
class ConnectionActivity:
    """How a connection has been used: its account's last listing (watch_all only) and
    the provider's 429s that paused its polls (``paused_until``: None once over)."""

    last_discovery: Discovery | None = None
    paused_until: float | None = None
    rate_limit_pauses: int = 0
    last_paused_at: float | None = None

    def public(self) -> dict[str, Any]:
        found = self.last_discovery
        return {
            "last_discovery_at": found.at if found else None,
            "last_discovery": (
                {"at": found.at, "listed": found.listed, "registered": found.registered}
                if found
                else None
            ),
            "paused_until": self.paused_until,
            "rate_limit_pauses": self.rate_limit_pauses,
            "last_paused_at": self.last_paused_at,
        }


@frozen
class Connection:
    """A tenant's credentials for one provider account (api_key decrypted); ``activity``
    is read only where it is shown (``store.connections_by_id(..., with_activity=True)``)."""

    id: str
    tenant: str
    provider: str
    base_url: str
    api_key: str = field(repr=False)
    headers: dict[str, str]
    params: dict[str, Any] | None
    created_at: float
    watch_all: bool = False
    webhook_secret: str | None = field(default=None, repr=False)
    activity: ConnectionActivity = field(default_factory=ConnectionActivity)

    def public(self) -> dict[str, Any]:
        """What the API shows: never the key or the webhook secret."""
        return {
            "id": self.id,
            "object": "connection",
            "provider": self.provider,
            "base_url": self.base_url,
            "headers": redacted_headers(self.headers),
            "params": self.params,
            "watch_all": self.watch_all,
            "has_webhook_secret": self.webhook_secret is not None,
            "created_at": int(self.created_at),
            **self.activity.public(),
        }


# An endpoint's options, by their API names, and the Endpoint fields that hold them.
ENDPOINT_OPTIONS = {
    "progress_step": "progress_step",
    "expiring_lead_time": "expiring_lead_s",
    "result_links_ttl": "result_links_ttl_s",
    "include_results_summary": "include_results_summary",
    "format": "format",
}
BODY_FORMATS = ("standard", "slack")  # the event JSON, or a Slack incoming-webhook message


@frozen
class Endpoint:
    id: str
    tenant: str
    url: str = field(repr=False)  # a queue's may hold credentials: shown masked
    events: tuple[str, ...]
    description: str
    secret: str = field(repr=False)
    old_secret: str | None = field(repr=False)
    old_secret_expires_at: float | None
    disabled: bool
    disabled_reason: str
    created_at: float
    rate_limit: int | None = None  # deliveries per second; None: BATCHHOOK_ENDPOINT_RATE_LIMIT
    progress_step: int = 10  # batch.progress each time this many more percent are done
    expiring_lead_s: int = 3600  # batch.expiring this long before the deadline
    result_links_ttl_s: int = 86400  # how long the links to result files stay valid
    include_results_summary: bool = False  # terminal events count the output file's lines
    format: str = "standard"  # BODY_FORMATS: "slack" sends a Slack message instead

    def signing_secrets(self, now: float) -> list[str]:
        secrets = [self.secret]
        if self.old_secret and (self.old_secret_expires_at or 0) > now:
            secrets.append(self.old_secret)
        return secrets

    def options(self) -> dict[str, Any]:
        """The options of the events it gets, by their API names."""
        return {name: getattr(self, field) for name, field in ENDPOINT_OPTIONS.items()}

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "endpoint",
            "url": masked_url(self.url),
            "events": list(self.events),
            "description": self.description,
            "disabled": self.disabled,
            "disabled_reason": self.disabled_reason or None,
            "rate_limit": self.rate_limit,
            **self.options(),
            "created_at": int(self.created_at),
        }


@frozen
class Watch:
    """One tenant's registration of one provider batch."""

    id: str
    tenant: str
    batch_id: str
    connection_id: str
    endpoint_ids: tuple[str, ...] | None  # None: every endpoint of the tenant
    metadata: dict[str, Any]
    poll_interval_s: float | None
    status: str | None
    watching: bool
    created_at: float
    next_poll_at: float | None
    last_polled_at: float | None
    errors: int
    last_error: str
    snapshot: dict[str, Any] | None = field(repr=False)
    summary: dict[str, Any] = field(default_factory=dict)
    status_changed_at: float | None = None
    not_found_since: float | None = None  # first 404 of the current run of poll errors
    backoff_errors: int = 0  # of the current run of errors, those that grow the back-off

    @property
    def normalized_status(self) -> str | None:
        value = self.summary.get("normalized_status")
        return str(value) if value else None


@frozen
class NewEvent:
    """An event about to be written, with the deliveries it needs."""

    id: str
    tenant: str
    watch_id: str
    batch_id: str
    type: str
    created_at: int
    body: str
    endpoint_ids: tuple[str, ...]


@frozen
class PollRecord:
    """What one poll found, ready for the store: a snapshot or an error."""

    watch_id: str
    tenant: str  # the watch's
    now: float
    next_poll_at: float | None  # None: stop polling
    expected_status: str | None = None
    status: str | None = None
    snapshot: dict[str, Any] | None = None  # the raw answer, kept if it names result files
    summary: dict[str, Any] | None = None
    event: NewEvent | None = None
    error: str | None = None
    not_found_since: float | None = None  # kept on the watch while 404s are within grace
    backs_off: bool = True  # an error that grows the batch's back-off (not a paced 429)
    signals: tuple[NewEvent, ...] = ()  # progress, expiring, stalled, resumed
