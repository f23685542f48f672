"""/v1/endpoints: where webhooks go, which events, and their signing secrets."""

from __future__ import annotations

import time
from typing import Annotated, Any, Self

import structlog
from fastapi import APIRouter, Query
from pydantic import Field, model_validator

from worker import events, health, keys
from worker.api.deps import SettingsDep, StoreDep, TenantDep
from worker.api.pages import PageDep, list_answer
from worker.api.schemas import Body, EndpointIn, EndpointPatch
from worker.destinations import check_destination
from worker.errors import Conflict, InputError, NotFound
from worker.models import WEBHOOK_TEST, Endpoint
from worker.settings import Settings
from worker.signing import new_secret
from worker.store import Store

log = structlog.get_logger()

router = APIRouter(prefix="/v1/endpoints")

UnixSeconds = Annotated[float, Field(ge=0, le=2**40, strict=False)]


class RecoverIn(Body):
    """Resend the endpoint's failed deliveries of events created in [since, until]."""

    since: UnixSeconds
    until: UnixSeconds | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.until is not None and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


@router.post("", status_code=201)
def create_endpoint(
    body: EndpointIn, tenant: TenantDep, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    check_destination(body.url, allow_private=settings.allow_private_destinations)
    secret = body.secret or new_secret()
    ep = store.create_endpoint(
        tenant,
        url=body.url,
        events=body.events,
        description=body.description,
        secret=secret,
        rate_limit=body.rate_limit,
        options=body.options(),
    )
    return {**ep.public(), "secret": secret}


@router.get("")
def list_endpoints(tenant: TenantDep, store: StoreDep, page: PageDep) -> dict[str, Any]:
    found = store.page_endpoints(tenant, starting_after=page.starting_after, limit=page.limit)
    return list_answer(found, lambda e: e.public())


def health_view(raw: dict[str, float | None], settings: Settings, now: float) -> dict[str, Any]:
    policy = health.CircuitPolicy(
        threshold=settings.circuit_failure_threshold,
        cooldown_s=settings.circuit_cooldown_s,
        max_cooldown_s=settings.circuit_max_cooldown_s,
    )
    failures, open_until = int(raw["failures"] or 0), float(raw["open_until"] or 0)
    state = health.circuit_state(failures, open_until, policy, now)
    return {
        "consecutive_failures": failures,
        "failing_since": raw["failing_since"],
        "circuit": state,
        "circuit_open_until": open_until if state == health.OPEN else None,
    }


def hour_view(minutes: list[dict[str, int]]) -> dict[str, Any]:
    """The attempts of the last hour's minute rows, and the share of them that succeeded
    (None without attempts)."""
    succeeded = sum(m["succeeded"] for m in minutes)
    failed = sum(m["failed"] for m in minutes)
    attempts = succeeded + failed
    return {
        "attempts_1h": {"succeeded": succeeded, "failed": failed},
        "success_rate_1h": round(succeeded / attempts, 4) if attempts else None,
    }


def endpoint_view(
    store: Store,
    settings: Settings,
    ep: Endpoint,
    now: float,
    hour: list[dict[str, int]] | None = None,
) -> dict[str, Any]:
    """What ``GET /v1/endpoints/{id}`` shows: the endpoint, with its health, the last
    hour's attempts (the 60 minutes ending with this one; ``hour``: those rows when the
    caller has read them already) and its effective throttle."""
    if hour is None:
        hour = store.endpoint_activity(ep.id, now=now, minutes=60)
    return {
        **ep.public(),
        "health": {
            **health_view(store.endpoint_health(ep.id), settings, now),
            **hour_view(hour),
            "throttle_per_s": ep.rate_limit or settings.endpoint_rate_limit or None,
        },
    }


@router.get("/{endpoint_id}")
def get_endpoint(
    endpoint_id: str, tenant: TenantDep, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    ep = store.get_endpoint(tenant, endpoint_id)
    return endpoint_view(store, settings, ep, time.time())


@router.get("/{endpoint_id}/activity")
def get_endpoint_activity(
    endpoint_id: str,
    tenant: TenantDep,
    store: StoreDep,
    minutes: Annotated[
        int,
        Query(ge=1, le=keys.ACTIVITY_MINUTES, description="how many minutes, 1 to 180"),
    ] = 60,
) -> dict[str, Any]:
    """The endpoint's attempts per clock minute, oldest first, ending with the current
    minute (so far): ``succeeded`` (2xx) and ``failed`` (any other answer, a timeout, no
    connection); deliveries held back by the circuit or throttle are not attempts."""
    ep = store.get_endpoint(tenant, endpoint_id)
    rows = store.endpoint_activity(ep.id, now=time.time(), minutes=minutes)
    return {"object": "list", "data": rows, "has_more": False}


@router.patch("/{endpoint_id}")
def update_endpoint(
    endpoint_id: str,
    body: EndpointPatch,
    tenant: TenantDep,
    store: StoreDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    store.get_endpoint(tenant, endpoint_id)
    changes = body.model_dump(exclude_none=True)
    if "rate_limit" in body.model_fields_set:  # null is a change too: back to the default
        changes["rate_limit"] = body.rate_limit
    if "url" in changes:
        check_destination(changes["url"], allow_private=settings.allow_private_destinations)
    updated = store.update_endpoint(tenant, endpoint_id, changes)
    if changes.get("disabled") is False:  # re-enabled: the failure clock starts afresh
        store.reset_endpoint_health(endpoint_id)
    return updated.public()


@router.delete("/{endpoint_id}")
def delete_endpoint(endpoint_id: str, tenant: TenantDep, store: StoreDep) -> dict[str, Any]:
    store.delete_endpoint(tenant, endpoint_id)
    return {"id": endpoint_id, "object": "endpoint", "deleted": True}


@router.post("/{endpoint_id}/rotate-secret")
def rotate_secret(
    endpoint_id: str, tenant: TenantDep, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    secret = new_secret()
    ep = store.rotate_endpoint_secret(
        tenant, endpoint_id, secret, grace_s=settings.old_secret_grace_s
    )
    return {
        "id": ep.id,
        "secret": secret,
        "previous_secret_expires_at": int(ep.old_secret_expires_at or 0),
    }


@router.post("/{endpoint_id}/test", status_code=202)
def send_test_event(endpoint_id: str, tenant: TenantDep, store: StoreDep) -> dict[str, Any]:
    ep = store.get_endpoint(tenant, endpoint_id)
    event = events.new_event(
        tenant=tenant,
        event_type=WEBHOOK_TEST,
        data=events.webhook_test_data(ep.id),
        endpoint_ids=(ep.id,),
        now=time.time(),
    )
    store.create_event(event)
    return store.get_event(tenant, event.id)


@router.post("/{endpoint_id}/recover", status_code=202)
def recover(
    endpoint_id: str, body: RecoverIn, tenant: TenantDep, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    """Resend, in the background, every failed delivery to this endpoint of an event
    created in the window (same ``webhook-id``: a new round of attempts)."""
    ep = store.get_endpoint(tenant, endpoint_id)
    now = time.time()
    until = body.until if body.until is not None else now
    if body.since >= until:
        raise InputError("since must be in the past")
    if body.since < now - settings.retention_s:
        raise InputError(f"since must be within the retention ({settings.retention_s} s)")
    if ep.disabled:
        raise Conflict(f"endpoint {endpoint_id} is disabled; re-enable it first")
    job = store.create_recovery(tenant, ep.id, since=body.since, until=until)
    from worker.celery_app import app as celery  # the API needs Celery only here

    try:
        celery.send_task("batchhook.recover_endpoint", args=[job["id"]], retry=False)
    except Exception:  # the broker refused: queue the redeliveries here instead
        log.warning("recovery_not_sent", recovery_id=job["id"], exc_info=True)
        store.run_recovery(job["id"])
        return store.get_recovery(tenant, job["id"])
    return job


@router.get("/{endpoint_id}/recoveries/{recovery_id}")
def get_recovery(
    endpoint_id: str, recovery_id: str, tenant: TenantDep, store: StoreDep
) -> dict[str, Any]:
    job = store.get_recovery(tenant, recovery_id)
    if job["endpoint_id"] != endpoint_id:
        raise NotFound(f"no recovery {recovery_id!r}")
    return job
