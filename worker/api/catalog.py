"""The event catalog: every event type batchhook sends, described, with a sample.

``GET /v1/event-types`` lists them; ``/openapi.json`` has a ``webhooks`` section with one
operation per type, whose body schema is that type's event. The samples are made by the
code that makes the real events (``worker.samples``).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Header
from pydantic import BaseModel, ConfigDict, create_model

from worker import events, samples
from worker.api.deps import TenantDep
from worker.models import (
    DEFAULT_EVENT_TYPES,
    ENDPOINT_DISABLED,
    EVENT_TYPES,
    EXPIRING,
    OPT_IN_EVENT_TYPES,
    PROGRESS,
    RESUMED,
    SIGNAL_EVENT_TYPES,
    STALLED,
    WATCH_FAILED,
    WEBHOOK_TEST,
)

router = APIRouter(prefix="/v1/event-types")

DESCRIPTIONS = {
    **{
        t: f"The batch reached `{t.removeprefix('batch.')}`; carries its file ids and, as a "
        "terminal event, signed `output_url` / `error_url` links and `succeeded_share`."
        for t in DEFAULT_EVENT_TYPES
    },
    **{t: f"The batch moved to `{t.removeprefix('batch.')}`." for t in OPT_IN_EVENT_TYPES},
    WATCH_FAILED: "The batch cannot be polled (unknown id, revoked key); watching stopped.",
    WEBHOOK_TEST: "Sent by POST /v1/endpoints/{id}/test.",
    ENDPOINT_DISABLED: "Another endpoint of the tenant was disabled.",
    PROGRESS: "The batch's done share crossed one of the endpoint's progress steps; with "
    "`progress`, `request_rate_per_s` and `estimated_completion_at`.",
    EXPIRING: "The batch is within the endpoint's lead time of its deadline, with the "
    "projected shortfall.",
    STALLED: "No status change and no request finished for the stall threshold.",
    RESUMED: "A stalled batch moved again.",
}


class EventData(BaseModel):
    """The fields every event's ``data`` has; each type adds its own."""

    model_config = ConfigDict(extra="allow")
    id: str


def _json_type(value: Any) -> Any:
    """The schema type of one sample value: its JSON type, or null (where a sample has
    null, the type is left open: a file id is a string once the file exists)."""
    for kind in (bool, str, dict, list):
        if isinstance(value, kind):
            return kind[str, Any] | None if kind is dict else kind | None
    if isinstance(value, int | float):
        return float | None
    return Any


def data_model(event_type: str) -> type[BaseModel]:
    """The ``data`` of one event type: every field its events always carry (those of
    the type's sample), each of its JSON type or null; more may be added later."""
    data = sample(event_type)["data"]
    fields: dict[str, Any] = {
        name: (_json_type(value), ...) for name, value in data.items() if name != "id"
    }
    name = "EventData_" + event_type.replace(".", "_")
    return create_model(name, __base__=EventData, **fields)


def event_model(event_type: str) -> type[BaseModel]:
    """The body of one event type, OpenAI's event shape."""
    fields: dict[str, Any] = {
        "id": (str, ...),
        "object": (Literal["event"], ...),
        "type": (Literal[event_type], ...),
        "created_at": (int, ...),
        "data": (data_model(event_type), ...),
    }
    config = ConfigDict(json_schema_extra={"examples": [sample(event_type)]})
    return create_model("Event_" + event_type.replace(".", "_"), __config__=config, **fields)


# The simulated provider names its files with a random tag (samples are made from it).
SIMULATED_FILE_ID = re.compile(r"\b(file-sim-(?:output|errors)-)[0-9a-f]+\b")


def sample(event_type: str) -> dict[str, Any]:
    """The catalog's sample of a type: a real sample with its random parts (event id,
    file tag) fixed, so the OpenAPI document is the same on every build
    (``docs/openapi.json`` is checked in)."""
    made = samples.sample_event(event_type, now=1_767_225_600)
    text = SIMULATED_FILE_ID.sub(r"\g<1>5a3f1e0c9b2d", made.body)
    text = text.replace(made.id, events.derived_event_id("catalog-sample", event_type))
    body: dict[str, Any] = json.loads(text)
    return body


def subscription(event_type: str) -> str:
    if event_type in DEFAULT_EVENT_TYPES:
        return "default"
    return "opt-in"


def catalog() -> list[dict[str, Any]]:
    ordered = [
        *DEFAULT_EVENT_TYPES,
        *OPT_IN_EVENT_TYPES,
        *SIGNAL_EVENT_TYPES,
        WATCH_FAILED,
        ENDPOINT_DISABLED,
        WEBHOOK_TEST,
    ]
    assert set(ordered) == EVENT_TYPES  # noqa: S101 - a new type must be catalogued
    return [
        {
            "object": "event_type",
            "name": t,
            "description": DESCRIPTIONS[t],
            "subscription": subscription(t),
            "sample": sample(t),
        }
        for t in ordered
    ]


@router.get("")
def list_event_types(tenant: TenantDep) -> dict[str, Any]:
    del tenant  # the catalog is the same for everyone, but only callers with a token see it
    return {"object": "list", "data": catalog()}


SIGNATURE_HEADERS = {
    "webhook-id": "The event id (`evt_...`): the same on every retry and redelivery.",
    "webhook-timestamp": "Unix seconds of this attempt.",
    "webhook-signature": '`v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, '
    "and a second, space-separated, while a rotated-out secret is still valid.",
}


def _receiver(model: type[BaseModel]) -> Callable[..., None]:
    """A stand-in for the subscriber's handler, whose signature FastAPI documents: the
    event as the body and the three Standard Webhooks headers."""

    def receive(**_: Any) -> None:
        """What batchhook POSTs to the endpoint (signed per Standard Webhooks)."""

    headers = [
        inspect.Parameter(
            name.replace("-", "_"),
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[str, Header(alias=name, description=text)],
        )
        for name, text in SIGNATURE_HEADERS.items()
    ]
    body = inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=model)
    receive.__signature__ = inspect.Signature([body, *headers], return_annotation=None)  # type: ignore[attr-defined]
    return receive


def add_webhooks(app: FastAPI) -> None:
    """One ``webhooks`` operation per event type in the OpenAPI document."""
    for entry in catalog():
        name = entry["name"]
        app.webhooks.add_api_route(
            name,
            _receiver(event_model(name)),
            methods=["POST"],
            summary=name,
            description=f"{entry['description']} Subscription: {entry['subscription']}.",
            operation_id="webhook_" + name.replace(".", "_"),
        )
