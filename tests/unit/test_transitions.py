"""From a poll's answer to the event and next poll the store must record."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from worker import transitions
from worker.errors import ProviderRejected, ProviderUnavailable
from worker.models import DEFAULT_EVENT_TYPES, WATCH_FAILED, Endpoint, Snapshot, Watch

NOW = 1_700_000_500.0
BATCH_RAW: dict[str, Any] = {
    "id": "batch_1",
    "object": "batch",
    "status": "completed",
    "output_file_id": "file-out",
    "error_file_id": "file-err",
    "request_counts": {"total": 3, "completed": 2, "failed": 1},
    "completion_window": "24h",
}


def a_watch(**changes: Any) -> Watch:
    watch = Watch(
        id="w_1",
        tenant="acme",
        batch_id="batch_1",
        connection_id="conn_1",
        endpoint_ids=None,
        metadata={"job": "nightly"},
        poll_interval_s=None,
        status=None,
        watching=True,
        created_at=NOW - 30,
        next_poll_at=NOW,
        last_polled_at=None,
        errors=0,
        last_error="",
        snapshot=None,
    )
    return replace(watch, **changes)


def a_snapshot(status: str = "completed", provider_status: str = "") -> Snapshot:
    raw = {**BATCH_RAW, "status": provider_status or status}
    return Snapshot(
        batch_id="batch_1",
        status=status,
        provider_status=provider_status,
        output_file_id=raw["output_file_id"],
        error_file_id=raw["error_file_id"],
        request_counts=raw["request_counts"],
        raw=raw,
    )


def an_endpoint(ep_id: str, events: tuple[str, ...] = DEFAULT_EVENT_TYPES) -> Endpoint:
    return Endpoint(
        id=ep_id,
        tenant="acme",
        url=f"https://example.com/{ep_id}",
        events=events,
        description="",
        secret="whsec_x",
        old_secret=None,
        old_secret_expires_at=None,
        disabled=False,
        disabled_reason="",
        created_at=NOW - 100,
    )


def test_first_poll_of_a_finished_batch_notifies_once_and_stops_polling() -> None:
    record = transitions.plan_snapshot(
        a_watch(), a_snapshot("completed"), provider="openai", endpoints=[], now=NOW
    )

    assert record.next_poll_at is None
    assert record.status == "completed"
    assert record.expected_status is None
    assert record.event is not None
    assert record.event.type == "batch.completed"
    assert json.loads(record.event.body)["data"]["previous_status"] is None


def test_same_status_as_last_seen_plans_no_event_and_keeps_polling() -> None:
    record = transitions.plan_snapshot(
        a_watch(status="in_progress"),
        a_snapshot("in_progress"),
        provider="openai",
        endpoints=[an_endpoint("ep_1")],
        now=NOW,
    )

    assert record.event is None
    assert record.next_poll_at is not None
    assert record.next_poll_at > NOW


def test_non_terminal_change_plans_its_event_and_keeps_polling() -> None:
    record = transitions.plan_snapshot(
        a_watch(status="validating"),
        a_snapshot("in_progress"),
        provider="openai",
        endpoints=[],
        now=NOW,
    )

    assert record.event is not None
    assert record.event.type == "batch.in_progress"
    assert record.next_poll_at is not None


def test_explicit_poll_interval_sets_the_next_poll() -> None:
    record = transitions.plan_snapshot(
        a_watch(status="in_progress", poll_interval_s=45.0),
        a_snapshot("in_progress"),
        provider="openai",
        endpoints=[],
        now=NOW,
    )

    assert record.next_poll_at == NOW + 45.0


def test_status_change_event_body_has_the_openai_event_shape_and_our_extra_fields() -> None:
    record = transitions.plan_snapshot(
        a_watch(status="finalizing"),
        a_snapshot("completed"),
        provider="keywordsai",
        endpoints=[an_endpoint("ep_1")],
        now=NOW,
    )
    assert record.event is not None

    body = json.loads(record.event.body)

    assert body["id"] == record.event.id
    assert body["id"].startswith("evt_")
    assert body["object"] == "event"
    assert body["type"] == "batch.completed"
    assert body["created_at"] == int(NOW)
    assert body["data"] == {
        "id": "batch_1",
        "normalized_status": "completed",
        "status": "completed",
        "previous_status": "finalizing",
        "output_file_id": "file-out",
        "error_file_id": "file-err",
        "request_counts": {"total": 3, "completed": 2, "failed": 1},
        "provider": "keywordsai",
        "connection_id": "conn_1",
        "metadata": {"job": "nightly"},
        "duration_s": 30.0,  # since the registration: the batch object gives no created_at
        "succeeded_share": 0.6667,
        "batch": BATCH_RAW,
    }


def planned_event_id(watch: Watch, status: str = "completed") -> str:
    record = transitions.plan_snapshot(
        watch, a_snapshot(status), provider="openai", endpoints=[], now=NOW
    )
    assert record.event is not None
    return record.event.id


def test_the_same_change_planned_again_gets_the_same_id() -> None:
    """Seen again after Redis lost it, on another worker, an hour later: one id."""
    first = planned_event_id(a_watch(status="in_progress"))
    again = planned_event_id(a_watch(status="in_progress", created_at=NOW - 7200))

    assert first == again
    assert first.startswith("evt_")
    assert len(first) == len("evt_") + 24


def test_reaching_a_status_from_an_older_last_seen_one_keeps_the_id() -> None:
    """Redis restored from an older snapshot knows ``in_progress`` where it had seen
    ``finalizing``: arriving at ``completed`` is still the same change."""
    assert planned_event_id(a_watch(status="finalizing")) == planned_event_id(
        a_watch(status="in_progress")
    )


def test_event_ids_differ_by_status_batch_tenant_and_connection() -> None:
    base = a_watch(status="in_progress")
    ids = {
        planned_event_id(base),
        planned_event_id(base, status="failed"),
        planned_event_id(replace(base, batch_id="batch_2")),
        planned_event_id(replace(base, tenant="other")),
        planned_event_id(replace(base, connection_id="conn_2")),
    }

    assert len(ids) == 5


def test_watch_failed_ids_are_one_per_registration() -> None:
    def failed_id(watch: Watch) -> str:
        error = ProviderRejected("gone", batch_id="batch_1", status_code=401)
        record = transitions.plan_error(watch, error, provider="openai", endpoints=[], now=NOW)
        assert record.event is not None
        return record.event.id

    assert failed_id(a_watch(status="in_progress")) == failed_id(a_watch(status="validating"))
    assert failed_id(a_watch()) != failed_id(a_watch(created_at=NOW - 5))
    assert failed_id(a_watch()) != planned_event_id(a_watch())


def test_only_endpoints_subscribed_to_the_event_type_receive_it() -> None:
    endpoints = [
        an_endpoint("ep_default"),
        an_endpoint("ep_failures", events=("batch.failed",)),
        an_endpoint("ep_progress", events=("batch.in_progress", "batch.completed")),
    ]

    completed = transitions.plan_snapshot(
        a_watch(status="in_progress"),
        a_snapshot("completed"),
        provider="openai",
        endpoints=endpoints,
        now=NOW,
    )
    progress = transitions.plan_snapshot(
        a_watch(status="validating"),
        a_snapshot("in_progress"),
        provider="openai",
        endpoints=endpoints,
        now=NOW,
    )

    assert completed.event is not None
    assert completed.event.endpoint_ids == ("ep_default", "ep_progress")
    assert progress.event is not None
    assert progress.event.endpoint_ids == ("ep_progress",)


def test_watch_with_endpoint_ids_notifies_only_those_endpoints() -> None:
    endpoints = [an_endpoint("ep_1"), an_endpoint("ep_2"), an_endpoint("ep_3")]

    record = transitions.plan_snapshot(
        a_watch(endpoint_ids=("ep_3", "ep_1")),
        a_snapshot("failed"),
        provider="openai",
        endpoints=endpoints,
        now=NOW,
    )

    assert record.event is not None
    assert set(record.event.endpoint_ids) == {"ep_1", "ep_3"}


def test_watch_without_endpoint_ids_notifies_every_subscribed_endpoint() -> None:
    endpoints = [an_endpoint("ep_1"), an_endpoint("ep_2")]

    record = transitions.plan_snapshot(
        a_watch(endpoint_ids=None),
        a_snapshot("expired"),
        provider="openai",
        endpoints=endpoints,
        now=NOW,
    )

    assert record.event is not None
    assert record.event.endpoint_ids == ("ep_1", "ep_2")


def test_rejected_batch_plans_watch_failed_and_stops_polling() -> None:
    error = ProviderRejected(
        "openai answered 404: No batch found with id 'batch_1'.",
        batch_id="batch_1",
        status_code=404,
    )
    endpoints = [an_endpoint("ep_1", events=(*DEFAULT_EVENT_TYPES, WATCH_FAILED))]

    record = transitions.plan_error(
        a_watch(status="in_progress"), error, provider="openai", endpoints=endpoints, now=NOW
    )

    assert record.next_poll_at is None
    assert record.error is not None
    assert "No batch found" in record.error
    assert record.event is not None
    assert record.event.type == "batch.watch_failed"
    assert record.event.endpoint_ids == ("ep_1",)
    body = json.loads(record.event.body)
    assert body["type"] == "batch.watch_failed"
    assert body["data"]["id"] == "batch_1"
    assert body["data"]["status"] == "in_progress"
    assert body["data"]["error"] == {
        "message": "openai answered 404: No batch found with id 'batch_1'.",
        "status_code": 404,
    }
    assert body["data"]["connection_id"] == "conn_1"
    assert body["data"]["metadata"] == {"job": "nightly"}


def test_unavailable_provider_reschedules_no_sooner_than_retry_after() -> None:
    error = ProviderUnavailable(
        "openai answered 429: Rate limit reached",
        batch_id="batch_1",
        status_code=429,
        retry_after_s=120.0,
    )

    record = transitions.plan_error(
        a_watch(status="in_progress"), error, provider="openai", endpoints=[], now=NOW
    )

    assert record.event is None
    assert record.next_poll_at is not None
    assert record.next_poll_at >= NOW + 120.0
    assert record.error == "openai answered 429: Rate limit reached"


def test_repeated_provider_errors_push_the_next_poll_further_out() -> None:
    error = ProviderUnavailable("openai answered 503: overloaded", batch_id="batch_1")

    first = transitions.plan_error(
        a_watch(errors=0), error, provider="openai", endpoints=[], now=NOW
    )
    fourth = transitions.plan_error(
        a_watch(errors=3, backoff_errors=3), error, provider="openai", endpoints=[], now=NOW
    )

    assert first.next_poll_at is not None
    assert fourth.next_poll_at is not None
    assert NOW < first.next_poll_at < fourth.next_poll_at


def test_a_429_with_retry_after_waits_that_long_without_growing_the_back_off() -> None:
    paced = ProviderUnavailable(
        "openai answered 429: slow down", batch_id="b", status_code=429, retry_after_s=1.0
    )
    seventh = transitions.plan_error(
        a_watch(errors=6, backoff_errors=0, poll_interval_s=1.0),
        paced,
        provider="openai",
        endpoints=[],
        now=NOW,
    )

    assert seventh.next_poll_at == NOW + 1.0
    assert not seventh.backs_off


def test_the_event_type_comes_from_the_normalised_status_and_data_keeps_the_word() -> None:
    record = transitions.plan_snapshot(
        a_watch(status="InProgress"),
        a_snapshot("completed", provider_status="PartiallyCompleted"),
        provider="portkey",
        endpoints=[an_endpoint("ep_1")],
        now=NOW,
    )
    assert record.event is not None
    data = json.loads(record.event.body)["data"]

    assert record.event.type == "batch.completed"
    assert record.status == "PartiallyCompleted"
    assert data["status"] == "PartiallyCompleted"
    assert data["normalized_status"] == "completed"
    assert data["previous_status"] == "InProgress"
    assert record.next_poll_at is None


def test_an_unknown_status_is_recorded_and_polled_again_without_an_event() -> None:
    record = transitions.plan_snapshot(
        a_watch(status="in_progress"),
        a_snapshot("unknown", provider_status="rehydrating"),
        provider="portkey",
        endpoints=[an_endpoint("ep_1")],
        now=NOW,
    )

    assert record.event is None
    assert record.status == "rehydrating"
    assert record.summary is not None and record.summary["normalized_status"] == "unknown"
    assert record.next_poll_at is not None and record.next_poll_at > NOW


def _running_gap_s(done_before: int, done_now: int) -> float:
    """The gap planned after a poll of a batch in_progress for an hour, counts 60 s apart."""
    watch = a_watch(
        status="in_progress",
        created_at=NOW - 3600,
        status_changed_at=NOW - 3600,
        summary={
            "request_counts": {"total": 1000, "completed": done_before, "failed": 0},
            "observed_at": NOW - 60,
        },
    )
    snapshot = replace(
        a_snapshot("in_progress"),
        request_counts={"total": 1000, "completed": done_now, "failed": 0},
    )
    record = transitions.plan_snapshot(watch, snapshot, provider="openai", endpoints=[], now=NOW)
    assert record.next_poll_at is not None
    return record.next_poll_at - NOW


def test_the_schedule_learns_from_request_counts_polling_sooner_near_the_end() -> None:
    far = _running_gap_s(done_before=100, done_now=110)  # 890 left at 1 per 6 s
    near = _running_gap_s(done_before=950, done_now=990)  # 10 left at 2 per 3 s

    assert near < far
    assert near <= 60


def test_the_raw_answer_is_recorded_only_when_it_names_a_result_file() -> None:
    """Result links fetch with the raw answer; while a batch has no file, its summary
    serves the API and the raw answer is not kept (Redis memory per watched batch)."""
    running = replace(
        a_snapshot("in_progress"),
        output_file_id=None,
        error_file_id=None,
        raw={**BATCH_RAW, "status": "in_progress", "output_file_id": None, "error_file_id": None},
    )
    plan = transitions.plan_snapshot

    assert plan(a_watch(), running, provider="openai", endpoints=[], now=NOW).snapshot is None
    done = plan(a_watch(), a_snapshot("completed"), provider="openai", endpoints=[], now=NOW)
    assert done.snapshot == BATCH_RAW
    assert done.summary is not None and done.summary["output_file_id"] == "file-out"
