"""What a finished batch's result files hold, counted in one streaming pass.

``include_results_summary`` on an endpoint adds ``data.results_summary`` to its terminal
events: the requests by HTTP status, the summed token ``usage`` and the first
``MAX_FAILED_IDS`` ``custom_id``s that failed. Lines are read as they arrive, never the
whole file. The shapes read:

- OpenAI and the services answering like it (Azure, Mistral, Portkey, Keywords AI, ...):
  ``{"custom_id", "response": {"status_code", "body": {"usage": {...}}}, "error"}``, in
  the output file and, for failed requests, in the error file;
- Anthropic: ``{"custom_id", "result": {"type": "succeeded" | "errored" | "canceled" |
  "expired", "message": {"usage": {"input_tokens", "output_tokens"}}}}``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from worker import keys
from worker.destinations import guarded_session
from worker.errors import BatchhookError, NotFound
from worker.models import Connection, Endpoint, Watch
from worker.providers import RESULT_KINDS, FileClient
from worker.results import NETWORK_ERRORS, open_result
from worker.settings import Settings
from worker.store import Store

log = structlog.get_logger()

MAX_FAILED_IDS = 100
MAX_LINE_BYTES = 16 * 1024 * 1024  # a longer line is counted as unreadable, not kept
ANTHROPIC_STATUS = {"succeeded": "200", "errored": "error", "canceled": "canceled"}


@dataclass
class ResultsSummary:
    by_status: Counter[str] = field(default_factory=Counter)
    usage: Counter[str] = field(default_factory=Counter)
    failed_custom_ids: list[str] = field(default_factory=list)
    failed: int = 0
    unreadable_lines: int = 0

    def as_data(self) -> dict[str, Any]:
        return {
            "requests": sum(self.by_status.values()),
            "by_status": dict(sorted(self.by_status.items())),
            "usage": {
                "prompt_tokens": self.usage["prompt_tokens"],
                "completion_tokens": self.usage["completion_tokens"],
                "total_tokens": self.usage["total_tokens"],
            },
            "failed": self.failed,
            "failed_custom_ids": self.failed_custom_ids,
            "unreadable_lines": self.unreadable_lines,
        }

    def count_line(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            item = json.loads(line)
        except ValueError:
            self.unreadable_lines += 1
            return
        if not isinstance(item, dict):
            self.unreadable_lines += 1
            return
        status, usage = _status_and_usage(item)
        self.by_status[status] += 1
        for name, value in usage.items():
            self.usage[name] += value
        if status != "200":
            self.failed += 1
            custom_id = item.get("custom_id")
            if isinstance(custom_id, str) and len(self.failed_custom_ids) < MAX_FAILED_IDS:
                self.failed_custom_ids.append(custom_id)

    async def count(self, chunks: AsyncIterator[bytes]) -> None:
        """Count every line of a file as its chunks arrive."""
        pending = b""
        async for chunk in chunks:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.count_line(line)
            if len(pending) > MAX_LINE_BYTES:
                self.unreadable_lines += 1
                pending = b""
        self.count_line(pending)


def _status_and_usage(item: dict[str, Any]) -> tuple[str, dict[str, int]]:
    result = item.get("result")
    if isinstance(result, dict):  # Anthropic
        kind = str(result.get("type") or "unknown")
        message = result.get("message")
        usage = message.get("usage") if isinstance(message, dict) else None
        return ANTHROPIC_STATUS.get(kind, kind), _anthropic_usage(usage)
    response = item.get("response")
    if not isinstance(response, dict):
        return "error", {}
    status = response.get("status_code")
    body = response.get("body")
    usage = body.get("usage") if isinstance(body, dict) else None
    if item.get("error") and status in (None, 200):
        return "error", _openai_usage(usage)
    return (str(status) if status is not None else "error"), _openai_usage(usage)


def _ints(usage: Any, names: tuple[str, ...]) -> dict[str, int]:
    if not isinstance(usage, dict):
        return {}
    return {
        name: int(usage[name])
        for name in names
        if isinstance(usage.get(name), int | float) and not isinstance(usage.get(name), bool)
    }


def _openai_usage(usage: Any) -> dict[str, int]:
    found = _ints(usage, ("prompt_tokens", "completion_tokens", "total_tokens"))
    if found and "total_tokens" not in found:
        found["total_tokens"] = found.get("prompt_tokens", 0) + found.get("completion_tokens", 0)
    return found


def _anthropic_usage(usage: Any) -> dict[str, int]:
    found = _ints(usage, ("input_tokens", "output_tokens"))
    prompt, completion = found.get("input_tokens", 0), found.get("output_tokens", 0)
    if not found:
        return {}
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def summarize(
    client: FileClient, conn: Connection, watch: Watch, *, timeout_s: float
) -> dict[str, Any]:
    """Count the batch's output file and, when it has one, its error file."""
    summary = ResultsSummary()
    for kind in RESULT_KINDS:
        try:
            stream = await open_result(
                client, conn, watch.snapshot, kind, batch_id=watch.batch_id, timeout_s=timeout_s
            )
        except NotFound:
            continue  # no such file (a batch with no failure has no error file)
        try:
            await summary.count(stream.chunks())
        finally:
            await stream.aclose()
    return summary.as_data()


async def with_results_summary(
    store: Store, body: str, endpoint: Endpoint, settings: Settings
) -> str:
    """A terminal event's body with ``data.results_summary``: counted once per batch and
    kept on its watch, so every endpoint and retry sends the same; when the provider
    cannot give the files now, ``null`` and ``results_summary_error`` say why."""
    event = json.loads(body)
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return body
    wid = keys.watch_id(endpoint.tenant, data["id"])
    found = store.results_summary(wid)
    if found is None:
        try:
            found = await _summarize_watch(store, wid, settings)
        except (BatchhookError, *NETWORK_ERRORS) as exc:
            log.warning("results_summary_failed", watch_id=wid, error=str(exc))
            data["results_summary"], data["results_summary_error"] = None, str(exc)
            return json.dumps(event, separators=(",", ":"))
        store.save_results_summary(wid, found)
    data["results_summary"] = found
    return json.dumps(event, separators=(",", ":"))


async def _summarize_watch(store: Store, wid: str, settings: Settings) -> dict[str, Any]:
    watches = store.watches_by_id([wid])
    if not watches:
        raise NotFound("the batch is no longer watched")
    watch = watches[0]
    conn = store.connections_by_id({watch.connection_id}).get(watch.connection_id)
    if conn is None:
        raise NotFound(f"connection {watch.connection_id} was deleted")
    limit, private = 2, settings.allow_private_destinations
    async with guarded_session(limit=limit, allow_private=private) as client:
        return await summarize(client, conn, watch, timeout_s=settings.poll_timeout_s)
