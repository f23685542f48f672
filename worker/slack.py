"""The body an endpoint with ``format: "slack"`` gets: a Slack incoming-webhook message.

Pure: one event body in, one Slack message out (``text`` for notifications and clients
without blocks, ``blocks`` for the readable version): the batch, its status, request
counts, how long it ran and the links to its result files.
"""

from __future__ import annotations

import json
import time
from typing import Any

HEADLINES = {
    "batch.completed": ":white_check_mark: Batch completed",
    "batch.failed": ":x: Batch failed",
    "batch.expired": ":hourglass: Batch expired",
    "batch.cancelled": ":no_entry_sign: Batch cancelled",
    "batch.validating": ":mag: Batch validating",
    "batch.in_progress": ":gear: Batch in progress",
    "batch.finalizing": ":package: Batch finalizing",
    "batch.cancelling": ":octagonal_sign: Batch cancelling",
    "batch.progress": ":arrow_forward: Batch progress",
    "batch.expiring": ":alarm_clock: Batch about to expire",
    "batch.stalled": ":warning: Batch stalled",
    "batch.resumed": ":arrow_forward: Batch moving again",
    "batch.watch_failed": ":warning: Batch can no longer be watched",
    "endpoint.disabled": ":no_bell: Webhook endpoint disabled",
    "webhook.test": ":wave: Test event from batchhook",
}


def slack_body(body: str) -> str:
    """The Slack message for one event body (JSON text in, JSON text out)."""
    event = json.loads(body)
    return json.dumps(slack_message(event["type"], event.get("data") or {}))


def slack_message(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    headline = HEADLINES.get(event_type, f"batchhook: {event_type}")
    subject = data.get("id", "")
    title = f"{headline}: {subject}" if subject else headline
    lines = _facts(event_type, data)
    blocks: list[dict[str, Any]] = [_section(f"*{_escape(title)}*")]
    if lines:
        blocks.append(_section("\n".join(lines)))
    links = _links(data)
    if links:
        blocks.append({"type": "context", "elements": [_mrkdwn(" · ".join(links))]})
    return {"text": title, "blocks": blocks}


def _facts(event_type: str, data: dict[str, Any]) -> list[str]:
    """The lines under the headline, each ``*name:* value``, for what the event has."""
    facts: list[tuple[str, Any]] = []
    if event_type == "endpoint.disabled":
        facts += [("URL", data.get("url")), ("Reason", data.get("reason"))]
    status = data.get("status")
    if status and event_type.startswith("batch."):
        previous = data.get("previous_status")
        facts.append(("Status", f"{previous} → {status}" if previous else status))
    facts += [
        ("Requests", _counts(data.get("request_counts"))),
        ("Progress", _percent(data.get("progress"))),
        ("Ran for", _duration(data.get("duration_s"))),
        ("Stalled for", _duration(data.get("stalled_for_s"))),
        ("Expires", _when(data.get("expires_at")) if event_type == "batch.expiring" else None),
        ("Expected done", _when(data.get("estimated_completion_at"))),
        ("Error", (data.get("error") or {}).get("message")),
        ("Provider", data.get("provider")),
    ]
    return [f"*{name}:* {_escape(str(value))}" for name, value in facts if value]


def _counts(counts: Any) -> str | None:
    if not isinstance(counts, dict) or not counts.get("total"):
        return None
    done, failed, total = counts.get("completed", 0), counts.get("failed", 0), counts["total"]
    return f"{done:,} completed, {failed:,} failed of {total:,}"


def _percent(progress: Any) -> str | None:
    if not isinstance(progress, dict) or progress.get("percent") is None:
        return None
    return f"{progress['percent']:g}%"


def _duration(seconds: Any) -> str | None:
    """``1 h 5 min``, ``12 min``, ``40 s``: how long, as a person reads it."""
    if not isinstance(seconds, int | float) or seconds <= 0:
        return None
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else f"{secs} s"


def _when(at: Any) -> str | None:
    if not isinstance(at, int | float):
        return None
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def _links(data: dict[str, Any]) -> list[str]:
    named = [("Output file", data.get("output_url")), ("Error file", data.get("error_url"))]
    return [f"<{url}|{name}>" for name, url in named if url]


def _escape(text: str) -> str:
    """Slack's three control characters, escaped as its message format asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}
