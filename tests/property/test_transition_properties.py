"""worker.transitions.plan_snapshot over random sequences of provider status words.

Each poll's answer goes through the provider's own parser (``Provider.snapshot``) and then
``plan_snapshot``; the watch is then updated from the PollRecord the way the store's
record_polls script does. Whatever the words (OpenAI's eight, other providers' spellings,
words nobody knows), the plan never raises, plans at most one event per change of the
provider's word and none for an unknown word, names the event after the normalised status,
and stops polling at a terminal status.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.property._support import PROPERTY_SETTINGS
from worker import transitions
from worker.models import (
    DEFAULT_EVENT_TYPES,
    EVENT_TYPES,
    TERMINAL,
    BatchStatus,
    Endpoint,
    PollRecord,
    Watch,
)
from worker.providers import REGISTRY
from worker.providers.words import STATUS_ALIASES

pytestmark = pytest.mark.property

START = 1_700_000_000.0
OPENAI_WORDS = [s.value for s in BatchStatus]
OTHER_WORDS = sorted(STATUS_ALIASES)
# The documented vocabulary: OpenAI's words and the aliases table, lower-case.
KNOWN: dict[str, str] = {
    **{w: w for w in OPENAI_WORDS},
    **{w: s.value for w, s in STATUS_ALIASES.items()},
}


def expected_status(word: str) -> str | None:
    """The normalised status of a word per the vocabulary table; None when it is unknown."""
    return KNOWN.get(word.strip().lower().removeprefix("job_state_"))


def spelled(word: str, how: str) -> str:
    if how == "upper":  # Together, Mistral
        return word.upper()
    if how == "camel":  # Bedrock through older Portkey
        return "".join(part.title() for part in word.split("_"))
    if how == "vertex":
        return "JOB_STATE_" + word.upper()
    return word


KNOWN_WORDS = st.builds(
    spelled,
    st.sampled_from(OPENAI_WORDS + OTHER_WORDS),
    st.sampled_from(["as_is", "as_is", "upper", "camel", "vertex"]),
)
UNKNOWN_WORDS = st.one_of(
    st.sampled_from(["rehydrating", "archived", "JOB_STATE_UNSPECIFIED", "done", "ok", "🙂"]),
    st.text(min_size=1, max_size=20),
).filter(lambda word: expected_status(word) is None)
WORDS = st.one_of(st.sampled_from(OPENAI_WORDS), KNOWN_WORDS, UNKNOWN_WORDS)

TIMES = st.one_of(
    st.none(),
    st.floats(min_value=START - 10**6, max_value=START + 10**5),
    st.integers(min_value=int(START - 10**6) * 1000, max_value=int(START + 10**5) * 1000),
    st.sampled_from(["2023-11-14T22:13:20Z", "2023-11-14T22:13:20.5+00:00", "not a date", ""]),
)
COUNTS = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "total": st.integers(min_value=-5, max_value=10**6),
            "completed": st.integers(min_value=-5, max_value=10**6),
            "failed": st.integers(min_value=-5, max_value=10**6),
        },
    ),
)


def batch_body(provider: str, word: str, counts: Any, created: Any, expires: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "batch_1", "object": "batch", "status": word}
    if provider == "mistral":
        for ours, theirs in (
            ("total", "total_requests"),
            ("completed", "succeeded_requests"),
            ("failed", "failed_requests"),
        ):
            if isinstance(counts, dict) and ours in counts:
                body[theirs] = counts[ours]
        body["created_at"] = created
        return body
    body.update(request_counts=counts, created_at=created, expires_at=expires)
    return body


def a_watch(poll_interval_s: float | None) -> Watch:
    return Watch(
        id="w_1",
        tenant="acme",
        batch_id="batch_1",
        connection_id="conn_1",
        endpoint_ids=None,
        metadata={"job": "nightly"},
        poll_interval_s=poll_interval_s,
        status=None,
        watching=True,
        created_at=START,
        next_poll_at=START,
        last_polled_at=None,
        errors=0,
        last_error="",
        snapshot=None,
    )


ENDPOINTS = [
    Endpoint(
        id=f"ep_{n}",
        tenant="acme",
        url=f"https://example.com/{n}",
        events=events,
        description="",
        secret="whsec_x",
        old_secret=None,
        old_secret_expires_at=None,
        disabled=False,
        disabled_reason="",
        created_at=START - 100,
    )
    for n, events in enumerate([DEFAULT_EVENT_TYPES, tuple(sorted(EVENT_TYPES))])
]


def stored(watch: Watch, record: PollRecord) -> Watch:
    """The watch after the store's record_polls script has applied this record."""
    changed = record.status != watch.status
    return replace(
        watch,
        status=record.status if changed else watch.status,
        status_changed_at=record.now if changed else watch.status_changed_at,
        summary=record.summary or {},
        snapshot=record.snapshot,
        last_polled_at=record.now,
        next_poll_at=record.next_poll_at,
        watching=record.next_poll_at is not None,
        errors=0,
    )


POLLS = st.lists(
    st.tuples(
        WORDS,
        st.floats(min_value=0.001, max_value=7200),  # seconds since the previous poll
        COUNTS,
        TIMES,
        TIMES,
    ),
    min_size=1,
    max_size=25,
)


@given(
    provider=st.sampled_from(["openai", "together", "portkey", "keywordsai", "mistral", "azure"]),
    poll_interval_s=st.one_of(st.none(), st.floats(min_value=1, max_value=86400)),
    polls=POLLS,
    stop_at_terminal=st.booleans(),
)
@settings(PROPERTY_SETTINGS, max_examples=400)
def test_plans_over_any_sequence_of_status_words(
    provider: str,
    poll_interval_s: float | None,
    polls: list[tuple[str, float, Any, Any, Any]],
    stop_at_terminal: bool,
) -> None:
    parser = REGISTRY[provider]
    watch = a_watch(poll_interval_s)
    now = START
    events_by_change: list[tuple[str | None, str, str | None]] = []
    for word, gap_s, counts, created, expires in polls:
        if stop_at_terminal and not watch.watching:
            break  # the store stopped polling: no further poll happens
        now += gap_s
        snapshot = parser.snapshot("batch_1", batch_body(provider, word, counts, created, expires))
        status = expected_status(word)

        record = transitions.plan_snapshot(
            watch, snapshot, provider=provider, endpoints=ENDPOINTS, now=now
        )

        assert record.status == word
        assert record.expected_status == watch.status
        assert snapshot.status == (status or "unknown")
        if status in TERMINAL:
            assert record.next_poll_at is None, word
        else:
            assert record.next_poll_at is not None and record.next_poll_at >= now, word
        changed = word != watch.status
        if record.event is not None:
            assert changed, f"event for {word!r} repeated from {watch.status!r}"
            assert status is not None, f"event for unknown word {word!r}"
            assert record.event.type == f"batch.{status}"
            assert record.event.type in EVENT_TYPES
            body = json.loads(record.event.body)
            assert body["type"] == record.event.type
            assert body["data"]["status"] == word
            assert body["data"]["previous_status"] == watch.status
            expected_ids = tuple(ep.id for ep in ENDPOINTS if record.event.type in ep.events)
            assert record.event.endpoint_ids == expected_ids
        elif changed and status is not None:
            previous = expected_status(watch.status) if watch.status else None
            assert previous == status, f"{watch.status!r} -> {word!r} planned no event"
        events_by_change.append((watch.status, word, record.event.type if record.event else None))
        watch = stored(watch, record)

    planned = [e for e in events_by_change if e[2] is not None]
    changes = [e for e in events_by_change if e[0] != e[1]]
    assert len(planned) <= len(changes)
