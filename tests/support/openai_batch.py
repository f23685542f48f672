"""OpenAI's batch object as ``GET /v1/batches/{id}`` returns it, built in one place for the
test doubles: the provider stub here and the benchmarks' stand-in (``bench/standin_provider.py``),
each with its own clock, counts and metadata. Nothing here imports beyond the stdlib, so the
stand-in can load it without the test tools.
"""

from __future__ import annotations

from typing import Any

DAY_S = 86400


def openai_batch(
    batch_id: str,
    status: str,
    *,
    done: bool,
    now: int,
    created_at: int,
    in_progress_at: int | None,
    expires_at: int,
    request_counts: dict[str, int],
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """A chat-completions batch over a 24 h window; a ``done`` batch has its output file and
    ``completed_at`` (``now``)."""
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "errors": None,
        "input_file_id": f"file-in-{batch_id}",
        "completion_window": "24h",
        "status": status,
        "output_file_id": f"file-out-{batch_id}" if done else None,
        "error_file_id": None,
        "created_at": created_at,
        "in_progress_at": in_progress_at,
        "expires_at": expires_at,
        "completed_at": now if done else None,
        "request_counts": request_counts,
        "metadata": metadata,
    }
