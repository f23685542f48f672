"""structlog set-up: JSON lines in production, a readable console in dev.

Ids (batch_id, event_id, delivery_id, attempt) are bound with contextvars by the tasks;
``redact_secrets`` runs last before rendering so no key or secret reaches a log line.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from worker import jsoncodec
from worker.models import REDACTED, SENSITIVE_HEADER

# Values that look like a credential wherever they appear in a string: webhook secrets,
# our API tokens, provider keys (OpenAI/Anthropic/Groq style), bearer and basic
# credentials, JWTs, AWS access key ids, ``key=value`` pairs and passwords in URLs.
SECRET_VALUES = re.compile(
    r"whsec_[A-Za-z0-9+/=]+"
    r"|\bbh_[A-Za-z0-9_\-]{8,}"
    r"|\b(?:sk|rk|pk)[-_](?:[A-Za-z0-9]+[-_])*[A-Za-z0-9]{6,}"
    r"|\bgsk_[A-Za-z0-9]{8,}"
    r"|\b(?:Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]+"
    r"|\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"
    r"|\bA[KS]IA[0-9A-Z]{16}\b"
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@)",
    re.IGNORECASE,
)
SECRET_PAIRS = re.compile(
    r"((?:api[-_]?key|access[-_]?token|token|secret|password|signature)[\"']?\s*[=:]\s*[\"']?)"
    r"[^\s\"'&,;}]+",
    re.IGNORECASE,
)
# A text that holds none of these (ASCII, any case) matches neither pattern above: each
# alternative begins with, or holds, one of them (``gsk_`` holds ``sk``, ``api_key``
# ``key``, ``access_token`` ``token``). Non-ASCII text always goes to the patterns, whose
# case-insensitive matching also takes a few non-ASCII letters for ASCII ones.
SECRET_MARKS = (
    "whsec_", "bh_", "sk", "rk", "pk", "bearer", "basic", "eyj", "akia", "asia", "://",
    "key", "token", "secret", "password", "signature",
)  # fmt: skip
MAX_DEPTH = 8
# Set by the processors before ours, never from the data logged: not scanned.
WRITTEN_BY_US = frozenset({"timestamp", "level"})


def scrub(value: Any, depth: int = 0) -> Any:
    """The value with credential-looking parts replaced, looking inside containers;
    a mapping's entries under a sensitive name are replaced whole."""
    if isinstance(value, str):
        return _scrub_text(value)
    if value is None or isinstance(value, int | float):  # before the slower ABC checks
        return value
    if depth >= MAX_DEPTH:
        return REDACTED
    if isinstance(value, Mapping):
        return {k: _scrub_entry(k, v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return scrub(value.decode("utf-8", errors="replace"), depth)
    return value


@functools.lru_cache(maxsize=8192)
def _scrub_text(text: str) -> str:
    """Cached: event names and statuses recur on line after line. Most texts (those and
    ids) show at once that they hold no secret: the patterns run only on the others."""
    return _scrub_marked(text) if _may_hold_secret(text) else text


def _may_hold_secret(text: str) -> bool:
    if not text.isascii():
        return True
    lowered = text.lower()
    for mark in SECRET_MARKS:  # noqa: SIM110 (a loop: no generator made per text)
        if mark in lowered:
            return True
    return False


def _scrub_marked(text: str) -> str:
    return SECRET_PAIRS.sub(r"\1" + REDACTED, SECRET_VALUES.sub(REDACTED, text))


@functools.lru_cache(maxsize=1024)
def _sensitive_name(name: str) -> bool:
    return SENSITIVE_HEADER.search(name) is not None


def _scrub_entry(name: Any, value: Any, depth: int) -> Any:
    if isinstance(name, str) and _sensitive_name(name) and value not in (None, ""):
        return REDACTED
    kind = type(value)  # the kinds every log line carries first, without scrub's checks
    if kind is str:
        return _scrub_text(value)
    if value is None or kind is int or kind is float or kind is bool:
        return value
    return scrub(value, depth)


def redact_secrets(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor, last before rendering: no key or secret reaches a log line,
    whether under a telling name, inside a dict, or in a message or exception text."""
    for key, value in event_dict.items():  # values replaced in place: no key added
        if key not in WRITTEN_BY_US:
            event_dict[key] = _scrub_entry(key, value, 0)
    return event_dict


class UtcIsoTimestamp:
    """structlog processor: the time of the line, in UTC, as ``TimeStamper(fmt="iso",
    utc=True)`` writes it (always to the microsecond: 2026-12-06T10:31:12.000123Z), with
    the date and second formatted once a second rather than on every line (half its
    cost, which on the poll path is paid by every change and every attempt)."""

    def __init__(self) -> None:
        self.second = -1
        self.formatted = ""

    def __call__(
        self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        now = time.time()
        second = int(now)
        if second != self.second:
            self.second = second
            self.formatted = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        event_dict["timestamp"] = f"{self.formatted}.{int((now - second) * 1e6):06d}Z"
        return event_dict


def configure(log_format: str, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Log to ``stream`` (stderr unless given), through ``redact_secrets``."""
    out = stream if stream is not None else sys.stderr
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if log_format == "console"
        else structlog.processors.JSONRenderer(serializer=jsoncodec.dumps_compact)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        UtcIsoTimestamp(),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, redact_secrets, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(out),  # a line and a flush, as print
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
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
