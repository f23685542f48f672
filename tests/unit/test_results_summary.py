"""Counting result files line by line, in chunks cut anywhere."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from worker.results_summary import MAX_FAILED_IDS, ResultsSummary


def openai_line(custom_id: str, status: int, prompt: int = 0, completion: int = 0) -> bytes:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = prompt + completion
    body: dict[str, Any] = {"usage": usage} if status == 200 else {"error": {"message": "x"}}
    item = {"custom_id": custom_id, "response": {"status_code": status, "body": body}}
    return json.dumps({**item, "error": None}).encode() + b"\n"


async def cut(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def counted(data: bytes, size: int = 7) -> dict[str, Any]:
    summary = ResultsSummary()
    asyncio.run(summary.count(cut(data, size)))
    return summary.as_data()


def test_counts_by_status_sum_usage_and_name_the_failed_requests() -> None:
    output = b"".join(
        [openai_line("a", 200, 10, 5), openai_line("b", 200, 7, 3), openai_line("c", 400)]
    )

    found = counted(output + b"not json\n\n")

    assert found["by_status"] == {"200": 2, "400": 1}
    assert found["requests"] == 3
    assert found["usage"] == {"prompt_tokens": 17, "completion_tokens": 8, "total_tokens": 25}
    assert found["failed"] == 1
    assert found["failed_custom_ids"] == ["c"]
    assert found["unreadable_lines"] == 1


def test_the_same_counts_whatever_the_chunk_size_and_without_a_last_newline() -> None:
    output = b"".join(openai_line(f"r{i}", 200, i, 1) for i in range(50)).rstrip(b"\n")

    assert counted(output, 1) == counted(output, 4096)
    assert counted(output, 3)["requests"] == 50


def test_at_most_the_first_hundred_failed_ids_are_kept_but_all_are_counted() -> None:
    output = b"".join(openai_line(f"bad-{i}", 500) for i in range(MAX_FAILED_IDS + 20))

    found = counted(output, 1000)

    assert found["failed"] == MAX_FAILED_IDS + 20
    assert found["failed_custom_ids"] == [f"bad-{i}" for i in range(MAX_FAILED_IDS)]


def test_anthropic_results_count_by_result_type_with_input_and_output_tokens() -> None:
    usage = {"input_tokens": 4, "output_tokens": 6}
    lines = [
        {"custom_id": "ok", "result": {"type": "succeeded", "message": {"usage": usage}}},
        {"custom_id": "no", "result": {"type": "errored", "error": {"type": "invalid_request"}}},
        {"custom_id": "late", "result": {"type": "expired"}},
    ]  # fmt: skip
    found = counted(b"".join(json.dumps(line).encode() + b"\n" for line in lines))

    assert found["by_status"] == {"200": 1, "error": 1, "expired": 1}
    assert found["usage"] == {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}
    assert found["failed_custom_ids"] == ["no", "late"]
