"""Work the outbox: attempt claimed deliveries concurrently and record each attempt.

claimed deliveries -> each endpoint's circuit breaker and throttle (shared in Redis; what
they hold back is deferred, not attempted) -> ``delivery.attempt`` (concurrent, each
bounded by the delivery timeout, so a slow endpoint holds up no other) ->
``store.record_attempts`` (what finished together, in one round trip) -> the endpoint's
health: open its circuit, or disable it and tell the tenant's other endpoints
(``endpoint.disabled``).
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict

import structlog

from worker import delivery, health, metrics, results, results_summary, slack
from worker.concurrency import finished_in_batches
from worker.settings import Settings
from worker.store import AttemptDone, AttemptRecorded, DeliveryJob, Store

log = structlog.get_logger()


async def _attempt(
    store: Store, sender: delivery.WebhookSender, job: DeliveryJob, settings: Settings
) -> tuple[DeliveryJob, delivery.AttemptOutcome]:
    structlog.contextvars.bind_contextvars(
        batch_id=job.batch_id,
        event_id=job.event_id,
        delivery_id=job.delivery_id,
        endpoint_id=job.endpoint_id,
        attempt=job.round_attempts + 1,
    )
    outcome = await delivery.attempt(
        sender,
        job,
        body=await _body_for(store, job, settings),
        timeout_s=settings.delivery_timeout_s,
        schedule_s=settings.retry_delays_s,
        allow_private=settings.allow_private_destinations,
    )
    return job, outcome


async def _body_for(store: Store, job: DeliveryJob, settings: Settings) -> str:
    """The body as sent to this endpoint: a terminal event gets its result links and,
    when the endpoint asks, the summary of its result files; a Slack endpoint gets it
    all as a Slack message."""
    endpoint = job.endpoint
    if endpoint is None:
        return job.body
    body = job.body
    if job.event_type in results.TERMINAL_EVENT_TYPES:
        body = results.with_result_links(body, job.event_type, endpoint, settings, time.time())
        if endpoint.include_results_summary:
            body = await results_summary.with_results_summary(store, body, endpoint, settings)
    if endpoint.format == "slack":
        body = slack.slack_body(body)
    return body


def record_attempts(
    store: Store, done: list[tuple[DeliveryJob, delivery.AttemptOutcome]], settings: Settings
) -> None:
    """Record finished attempts in one round trip, then act on each endpoint's health."""
    recorded = store.record_attempts(
        [
            AttemptDone(
                delivery_id=job.delivery_id,
                record=outcome.record,
                outcome=outcome.outcome,
                next_attempt_at=outcome.next_attempt_at,
                attempted=outcome.attempted,
                event_created_at=job.event_created_at,
            )
            for job, outcome in done
        ]
    )
    now = time.time()
    for (job, outcome), after in zip(done, recorded, strict=True):
        if outcome.disable_endpoint:
            disable(store, job, "410 Gone", now=now)
        elif outcome.attempted and outcome.outcome != "succeeded":
            _judge_failure(store, job, after, settings, now)


def _judge_failure(
    store: Store, job: DeliveryJob, after: AttemptRecorded, settings: Settings, now: float
) -> None:
    """After a failed attempt: open the endpoint's circuit, or disable it."""
    cooldown_s = health.cooldown_s(after.failures, circuit_policy(settings))
    if cooldown_s is not None:
        store.open_circuit(job.endpoint_id, until=now + cooldown_s)
        log.warning(
            "circuit_opened",
            endpoint_id=job.endpoint_id,
            failures=after.failures,
            cooldown_s=cooldown_s,
        )
    if after.failing_since is not None and health.should_disable(
        after.failing_since, now=now, disable_after_s=settings.endpoint_disable_after_s
    ):
        disable(store, job, health.disabled_reason(after.failing_since, now), now=now)


def circuit_policy(settings: Settings) -> health.CircuitPolicy:
    return health.CircuitPolicy(
        threshold=settings.circuit_failure_threshold,
        cooldown_s=settings.circuit_cooldown_s,
        max_cooldown_s=settings.circuit_max_cooldown_s,
    )


def disable(store: Store, job: DeliveryJob, reason: str, *, now: float) -> None:
    """Disable the endpoint (once, whatever the number of workers) and send
    ``endpoint.disabled`` to the tenant's other endpoints that subscribe to it."""
    if job.endpoint is None or not store.disable_endpoint_once(job.endpoint_id, reason, now=now):
        return
    log.warning("endpoint_disabled", endpoint_id=job.endpoint_id, reason=reason)
    others = store.list_endpoints(job.endpoint.tenant)
    event = health.disabled_event(job.endpoint, reason, others, now)
    if event is not None:
        store.create_event(event)


def admitted(store: Store, jobs: list[DeliveryJob], settings: Settings) -> list[DeliveryJob]:
    """The jobs each endpoint's circuit and throttle let through now; the rest deferred."""
    by_endpoint: dict[str, list[DeliveryJob]] = defaultdict(list)
    for job in jobs:
        by_endpoint[job.endpoint_id].append(job)
    now = time.time()
    admissions = store.admit_deliveries(
        {eid: len(js) for eid, js in by_endpoint.items()},
        now=now,
        threshold=settings.circuit_failure_threshold,
        default_rate_per_s=settings.endpoint_rate_limit,
        probe_lease_s=settings.delivery_timeout_s + 1.0,
    )
    allowed: list[DeliveryJob] = []
    deferred: dict[str, tuple[float, str]] = {}
    for eid, endpoint_jobs in by_endpoint.items():
        admission = admissions[eid]
        allowed += endpoint_jobs[: admission.granted]
        waiting = endpoint_jobs[admission.granted :]
        for job, at in zip(waiting, health.deferred_at(admission, len(waiting), now), strict=True):
            deferred[job.delivery_id] = (at, admission.reason)
    if deferred:
        store.defer_deliveries(deferred)
        log.info("deliveries_deferred", count=len(deferred), endpoints=len(by_endpoint))
    return allowed


async def deliver_many(
    store: Store, sender: delivery.WebhookSender, delivery_ids: list[str], settings: Settings
) -> list[str]:
    """One attempt for each pending delivery given (see ``deliver_jobs``)."""
    jobs = [j for j in store.load_delivery_jobs(delivery_ids) if j.state == "pending"]
    return await deliver_jobs(store, sender, jobs, settings)


async def deliver_jobs(
    store: Store, sender: delivery.WebhookSender, jobs: list[DeliveryJob], settings: Settings
) -> list[str]:
    """One attempt for each job its endpoint admits now, each recorded as soon as it
    (and whatever finished with it) is done; returns each outcome."""
    jobs = admitted(store, jobs, settings)
    outcomes: list[delivery.AttemptOutcome] = []
    # At most the sender's POSTs in flight, by as many runner tasks, each attempt made
    # when a runner takes it; every attempt binds its own log context afresh (_attempt).
    attempt = functools.partial(_attempt, store, sender, settings=settings)
    async for done in finished_in_batches(attempt, jobs, sender.concurrency):
        record_attempts(store, done, settings)
        outcomes += [outcome for _, outcome in done]
    store.observe(
        metrics.ATTEMPT_LATENCY,
        (o.record["latency_ms"] / 1000 for o in outcomes if o.attempted),
    )
    return [o.outcome for o in outcomes]
