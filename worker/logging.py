"""structlog set-up: JSON lines in production, a readable console in dev.

Ids (batch_id, event_id, delivery_id, attempt) are bound with contextvars by the tasks;
``redact_secrets`` runs last before rendering so no key or secret reaches a log line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SECRET_FIELDS = re.compile(r"(api_key|secret|token|authorization|password)", re.IGNORECASE)
SECRET_VALUES = re.compile(
    r"(whsec_[A-Za-z0-9+/=]+|bh_[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{6,}|Bearer\s+\S+)"
)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return SECRET_VALUES.sub("[redacted]", value)
    return value


def redact_secrets(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if SECRET_FIELDS.search(key):
            event_dict[key] = "[redacted]"
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def configure(log_format: str, level: int = logging.INFO) -> None:
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if log_format == "console"
        else structlog.processors.JSONRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, redact_secrets, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[*shared, redact_secrets],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # Per-task "received"/"succeeded" lines would drown the log at one tick a second.
    for noisy in (
        "httpx",
        "httpcore",
        "uvicorn.access",
        "celery.app.trace",
        "celery.worker.strategy",
        "celery.beat",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
