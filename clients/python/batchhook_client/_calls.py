"""Every API call as data: method, path, body, whether it may be repeated, and how its
answer is read. Pure; ``client.py`` and ``async_client.py`` send them, so the sync and
async clients cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypedDict, TypeVar
from urllib.parse import quote

import httpx

from batchhook_client import _fields as f
from batchhook_client.errors import APIResponseError
from batchhook_client.models import (
    ActivityMinute,
    BatchWatch,
    Connection,
    Deleted,
    Endpoint,
    Event,
    EventType,
    Page,
    Recovery,
    SecretRotation,
)

T = TypeVar("T")
IDEMPOTENT_METHODS = frozenset({"GET", "PATCH", "DELETE"})  # PATCH sets values: repeatable


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    json: Mapping[str, Any] | None = None
    params: Mapping[str, Any] | None = None
    idempotent: bool | None = None  # None: by the method
    secrets: tuple[str, ...] = field(default=(), repr=False)  # kept out of error messages

    @property
    def repeatable(self) -> bool:
        return self.method in IDEMPOTENT_METHODS if self.idempotent is None else self.idempotent


class EndpointChanges(TypedDict, total=False):
    """What ``endpoints.update`` may change; ``rate_limit=None`` goes back to the default."""

    url: str
    events: Sequence[str]
    description: str
    disabled: bool
    rate_limit: int | None
    progress_step: int
    expiring_lead_time: int
    result_links_ttl: int
    include_results_summary: bool
    format: str


def json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise APIResponseError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} with a body that is not JSON"
        ) from exc
    if not isinstance(body, dict):
        raise APIResponseError(f"{response.request.url.path} answered JSON that is not an object")
    return body


def reader(parse: Callable[[Mapping[str, Any]], T]) -> Callable[[httpx.Response], T]:
    return lambda response: parse(json_object(response))


def page_reader(
    parse: Callable[[Mapping[str, Any]], T], cursor: Callable[[T], str]
) -> Callable[[httpx.Response], Page[T]]:
    """A list answer; a server without ``has_more`` has no further pages."""

    def read(response: httpx.Response) -> Page[T]:
        body = json_object(response)
        items = tuple(parse(item) for item in f.objects(body, "data"))
        has_more = f.flag(body, "has_more")
        after = cursor(items[-1]) if has_more and items else None
        return Page(data=items, has_more=has_more, next_starting_after=after, raw=body)

    return read


def given(**fields: Any) -> dict[str, Any]:
    """The fields the caller set: None means "leave it out"."""
    return {name: value for name, value in fields.items() if value is not None}


def segment(value: str) -> str:
    return quote(value, safe="")


def batch_path(batch_id: str) -> str:
    return "/v1/batches/" + quote(batch_id, safe="/:")  # Bedrock ARNs keep their slashes


def page_params(limit: int | None, starting_after: str | None, **filters: Any) -> dict[str, Any]:
    return given(limit=limit, starting_after=starting_after, **filters)


# --- connections ---------------------------------------------------------------------


def create_connection(
    *,
    provider: str,
    api_key: str,
    base_url: str | None,
    headers: Mapping[str, str] | None,
    params: Mapping[str, Any] | None,
    webhook_secret: str | None,
    watch_all: bool | None,
    params_encoding: str | None,
) -> Call[Connection]:
    body = given(
        provider=provider,
        api_key=api_key,
        base_url=base_url,
        headers=dict(headers) if headers is not None else None,
        params=dict(params) if params is not None else None,
        webhook_secret=webhook_secret,
        watch_all=watch_all,
        params_encoding=params_encoding,
    )
    hidden = (api_key, webhook_secret or "", *(headers or {}).values())
    return Call(
        "POST",
        "/v1/connections",
        reader(Connection.from_dict),
        json=body,
        secrets=tuple(s for s in hidden if s),
    )


def list_connections(limit: int | None, starting_after: str | None) -> Call[Page[Connection]]:
    read = page_reader(Connection.from_dict, lambda c: c.id)
    return Call("GET", "/v1/connections", read, params=page_params(limit, starting_after))


def get_connection(connection_id: str) -> Call[Connection]:
    return Call("GET", f"/v1/connections/{segment(connection_id)}", reader(Connection.from_dict))


def delete_connection(connection_id: str) -> Call[Deleted]:
    return Call("DELETE", f"/v1/connections/{segment(connection_id)}", reader(Deleted.from_dict))


# --- endpoints -----------------------------------------------------------------------


def create_endpoint(*, url: str, secret: str | None, **options: Any) -> Call[Endpoint]:
    body = given(url=url, secret=secret, **options)
    if "events" in body:
        body["events"] = list(body["events"])
    return Call(
        "POST",
        "/v1/endpoints",
        reader(Endpoint.from_dict),
        json=body,
        secrets=(secret,) if secret else (),
    )


def list_endpoints(limit: int | None, starting_after: str | None) -> Call[Page[Endpoint]]:
    read = page_reader(Endpoint.from_dict, lambda e: e.id)
    return Call("GET", "/v1/endpoints", read, params=page_params(limit, starting_after))


def endpoint_path(endpoint_id: str) -> str:
    return f"/v1/endpoints/{segment(endpoint_id)}"


def get_endpoint(endpoint_id: str) -> Call[Endpoint]:
    return Call("GET", endpoint_path(endpoint_id), reader(Endpoint.from_dict))


def update_endpoint(endpoint_id: str, changes: EndpointChanges) -> Call[Endpoint]:
    body: dict[str, Any] = dict(changes)
    if "events" in body:
        body["events"] = list(body["events"])
    return Call("PATCH", endpoint_path(endpoint_id), reader(Endpoint.from_dict), json=body)


def delete_endpoint(endpoint_id: str) -> Call[Deleted]:
    return Call("DELETE", endpoint_path(endpoint_id), reader(Deleted.from_dict))


def rotate_secret(endpoint_id: str) -> Call[SecretRotation]:
    path = endpoint_path(endpoint_id) + "/rotate-secret"
    return Call("POST", path, reader(SecretRotation.from_dict))


def send_test(endpoint_id: str) -> Call[Event]:
    return Call("POST", endpoint_path(endpoint_id) + "/test", reader(Event.from_dict))


def recover(endpoint_id: str, since: float, until: float | None) -> Call[Recovery]:
    path = endpoint_path(endpoint_id) + "/recover"
    body = given(since=since, until=until)
    return Call("POST", path, reader(Recovery.from_dict), json=body)


def get_recovery(endpoint_id: str, recovery_id: str) -> Call[Recovery]:
    path = f"{endpoint_path(endpoint_id)}/recoveries/{segment(recovery_id)}"
    return Call("GET", path, reader(Recovery.from_dict))


def _minutes(response: httpx.Response) -> tuple[ActivityMinute, ...]:
    return tuple(ActivityMinute.from_dict(m) for m in f.objects(json_object(response), "data"))


def endpoint_activity(endpoint_id: str, minutes: int | None) -> Call[tuple[ActivityMinute, ...]]:
    path = endpoint_path(endpoint_id) + "/activity"
    return Call("GET", path, _minutes, params=given(minutes=minutes))


# --- batches ---------------------------------------------------------------------------


def _watch_answer(response: httpx.Response) -> BatchWatch:
    return BatchWatch.from_dict(json_object(response), created=response.status_code == 201)


def watch_batch(
    *,
    batch_id: str,
    connection_id: str,
    endpoint_ids: Sequence[str] | None,
    metadata: Mapping[str, str] | None,
    poll_interval: float | None,
) -> Call[BatchWatch]:
    body = given(
        batch_id=batch_id,
        connection_id=connection_id,
        endpoint_ids=list(endpoint_ids) if endpoint_ids is not None else None,
        metadata=dict(metadata) if metadata is not None else None,
        poll_interval=poll_interval,
    )
    # Registering the same batch again answers 200 with the same watch: safe to repeat.
    return Call("POST", "/v1/batches", _watch_answer, json=body, idempotent=True)


def list_batches(limit: int | None, starting_after: str | None) -> Call[Page[BatchWatch]]:
    read = page_reader(BatchWatch.from_dict, lambda b: b.batch_id)
    return Call("GET", "/v1/batches", read, params=page_params(limit, starting_after))


def get_batch(batch_id: str) -> Call[BatchWatch]:
    return Call("GET", batch_path(batch_id), reader(BatchWatch.from_dict))


def unwatch_batch(batch_id: str) -> Call[Deleted]:
    return Call("DELETE", batch_path(batch_id), reader(Deleted.from_dict))


def result_file(batch_id: str, kind: str) -> Call[None]:
    """``kind`` is "output" or "errors"; the body is streamed, not read."""
    return Call("GET", f"{batch_path(batch_id)}/{kind}", lambda _: None)


# --- events ----------------------------------------------------------------------------


def list_events(
    limit: int | None, starting_after: str | None, batch_id: str | None, event_type: str | None
) -> Call[Page[Event]]:
    params = page_params(limit, starting_after, batch_id=batch_id, type=event_type)
    read = page_reader(Event.from_dict, lambda e: e.id)
    return Call("GET", "/v1/events", read, params=params)


def get_event(event_id: str) -> Call[Event]:
    return Call("GET", f"/v1/events/{segment(event_id)}", reader(Event.from_dict))


def redeliver(event_id: str, endpoint_id: str | None) -> Call[Event]:
    path = f"/v1/events/{segment(event_id)}/redeliver"
    return Call("POST", path, reader(Event.from_dict), json=given(endpoint_id=endpoint_id))


def list_event_types(limit: int | None, starting_after: str | None) -> Call[Page[EventType]]:
    read = page_reader(EventType.from_dict, lambda t: t.name)
    return Call("GET", "/v1/event-types", read, params=page_params(limit, starting_after))
