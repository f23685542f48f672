"""Any 200 answer of a provider's retrieve call parses to a Snapshot or a ProviderError.

The poller only catches ``ProviderError`` around ``retrieve``; anything else raised while
parsing one provider's answer escapes ``asyncio.gather`` and fails the poll task of the
whole chunk, so other batches (of other tenants) polled with it are never recorded.
``openai_compatible``/``litellm`` base URLs can be any server, so the answer is untrusted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.property._support import PROPERTY_SETTINGS
from worker import transitions
from worker.errors import ProviderError
from worker.models import BatchStatus, Snapshot, Watch
from worker.providers import REGISTRY
from worker.providers.base import parse_answer

pytestmark = pytest.mark.property

NOW = 1_700_000_000.0
PROVIDERS = sorted(REGISTRY)
FINITE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300),
    st.text(max_size=12),
)
WORDS = st.one_of(st.sampled_from([s.value for s in BatchStatus] + ["ended", "SUCCESS"]), FINITE)
FIELDS = [
    "id", "status", "processing_status", "request_counts", "created_at", "expires_at",
    "output_file_id", "error_file_id", "total_requests", "succeeded_requests",
    "failed_requests", "results_url", "expired_at", "ended_at", "cancel_initiated_at",
]  # fmt: skip


def anything(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.sampled_from([*FIELDS, "total", "completed", "failed"]), children)
        ),
        max_leaves=10,
    )


def answers(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    counts = st.dictionaries(
        st.sampled_from(["total", "completed", "failed", "succeeded", "errored", "processing"]),
        leaves,
        max_size=4,
    )
    return st.fixed_dictionaries(
        {"status": WORDS, "processing_status": WORDS},
        optional={
            name: st.one_of(anything(leaves), counts) if name == "request_counts" else leaves
            for name in FIELDS
            if name not in ("status", "processing_status")
        },
    )


def a_watch() -> Watch:
    return Watch(
        id="w_1", tenant="acme", batch_id="batch_1", connection_id="conn_1",
        endpoint_ids=None, metadata={}, poll_interval_s=None, status="in_progress",
        watching=True, created_at=NOW - 600, next_poll_at=NOW, last_polled_at=NOW - 60,
        errors=0, last_error="", snapshot=None,
        summary={"request_counts": {"total": 10, "completed": 1, "failed": 0},
                 "observed_at": NOW - 60},
        status_changed_at=NOW - 600,
    )  # fmt: skip


def parse_and_plan(provider: str, body: bytes) -> None:
    try:
        snapshot = parse_answer(REGISTRY[provider], "batch_1", 200, {}, body)
    except ProviderError:
        return
    assert isinstance(snapshot, Snapshot)
    transitions.plan_snapshot(a_watch(), snapshot, provider=provider, endpoints=[], now=NOW)


@given(provider=st.sampled_from(PROVIDERS), answer=answers(FINITE))
@settings(PROPERTY_SETTINGS, max_examples=300)
def test_any_finite_answer_parses_and_plans_or_is_a_provider_error(
    provider: str, answer: dict[str, Any]
) -> None:
    parse_and_plan(provider, json.dumps(answer).encode())


@given(
    provider=st.sampled_from(["openai", "openai_compatible", "litellm", "anthropic", "azure"]),
    key=st.sampled_from(["total", "completed", "failed"]),
    value=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400"]),
)
@settings(PROPERTY_SETTINGS, max_examples=10, report_multiple_bugs=False)
def test_a_non_finite_request_count_is_left_out_and_the_answer_still_plans(
    provider: str, key: str, value: str
) -> None:
    counts = f'{{"{key}": {value}}}'
    body = (
        f'{{"id": "batch_1", "status": "in_progress", "processing_status": "in_progress", '
        f'"request_counts": {counts}}}'
    ).encode()
    parse_and_plan(provider, body)
