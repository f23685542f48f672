"""The synchronous client: ``Client(base_url, token)`` and its resources, one per part of
the API. Each method sends one call of ``_calls`` (the async client sends the same ones).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import IO, Any, Self, TypeVar, Unpack

import httpx

from batchhook_client import _calls as calls
from batchhook_client._calls import Call, EndpointChanges
from batchhook_client._http import Core
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


class _Sender:
    """Sends calls with retries over one ``httpx.Client``."""

    def __init__(self, core: Core, http: httpx.Client) -> None:
        self.core = core
        self.http = http

    def send(self, call: Call[T]) -> T:
        return call.read(self.open(call, stream=False))

    def open(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        """The call's successful answer (its body unread when ``stream``), else raise."""
        retry = 0
        while True:
            try:
                response = self.http.send(self.core.request(self.http, call), stream=stream)
            except httpx.TransportError as error:
                wait_s = self.core.wait_after_error(call, error, retry)
                if wait_s is None:
                    raise self.core.connection_error(call, error) from error
            else:
                if response.is_success:
                    return response
                wait_s = self.core.wait_after_status(call, response, retry)
                if wait_s is None:
                    try:
                        response.read()
                        raise self.core.status_error(call, response)
                    finally:
                        response.close()
                response.close()
            time.sleep(wait_s)
            retry += 1

    def walk(self, page: Callable[[str | None], Call[Page[T]]]) -> Iterator[T]:
        """Every item of every page, fetching the next page when one is used up."""
        after: str | None = None
        while True:
            found = self.send(page(after))
            yield from found.data
            following = found.next_starting_after
            if not found.has_more or following is None or following == after:
                return
            after = following

    def stream(self, call: Call[Any], chunk_size: int | None) -> Iterator[bytes]:
        response = self.open(call, stream=True)
        try:
            yield from response.iter_bytes(chunk_size)
        except httpx.TransportError as error:
            raise self.core.connection_error(call, error) from error
        finally:
            response.close()


class Connections:
    """``/v1/connections``: provider accounts (keys are sent, never shown)."""

    def __init__(self, sender: _Sender) -> None:
        self._s = sender

    def create(
        self,
        *,
        provider: str,
        api_key: str,
        base_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        webhook_secret: str | None = None,
        watch_all: bool | None = None,
        params_encoding: str | None = None,
    ) -> Connection:
        return self._s.send(
            calls.create_connection(
                provider=provider,
                api_key=api_key,
                base_url=base_url,
                headers=headers,
                params=params,
                webhook_secret=webhook_secret,
                watch_all=watch_all,
                params_encoding=params_encoding,
            )
        )

    def list(self, *, limit: int | None = None) -> Iterator[Connection]:
        """Every connection, ``limit`` a page."""
        return self._s.walk(lambda after: calls.list_connections(limit, after))

    def list_page(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Page[Connection]:
        return self._s.send(calls.list_connections(limit, starting_after))

    def get(self, connection_id: str) -> Connection:
        return self._s.send(calls.get_connection(connection_id))

    def delete(self, connection_id: str) -> Deleted:
        """Delete it; its batches stop being watched."""
        return self._s.send(calls.delete_connection(connection_id))


class Endpoints:
    """``/v1/endpoints``: where webhooks go, which events, and their secrets."""

    def __init__(self, sender: _Sender) -> None:
        self._s = sender

    def create(
        self,
        *,
        url: str,
        events: Sequence[str] | None = None,
        description: str | None = None,
        secret: str | None = None,
        rate_limit: int | None = None,
        progress_step: int | None = None,
        expiring_lead_time: int | None = None,
        result_links_ttl: int | None = None,
        include_results_summary: bool | None = None,
        format: str | None = None,
    ) -> Endpoint:
        """A new endpoint; its ``secret`` (generated unless given) is shown only here."""
        return self._s.send(
            calls.create_endpoint(
                url=url,
                secret=secret,
                events=events,
                description=description,
                rate_limit=rate_limit,
                progress_step=progress_step,
                expiring_lead_time=expiring_lead_time,
                result_links_ttl=result_links_ttl,
                include_results_summary=include_results_summary,
                format=format,
            )
        )

    def list(self, *, limit: int | None = None) -> Iterator[Endpoint]:
        return self._s.walk(lambda after: calls.list_endpoints(limit, after))

    def list_page(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Page[Endpoint]:
        return self._s.send(calls.list_endpoints(limit, starting_after))

    def get(self, endpoint_id: str) -> Endpoint:
        """The endpoint with its ``health``."""
        return self._s.send(calls.get_endpoint(endpoint_id))

    def update(self, endpoint_id: str, **changes: Unpack[EndpointChanges]) -> Endpoint:
        """Change the fields given (``rate_limit=None``: back to the default)."""
        return self._s.send(calls.update_endpoint(endpoint_id, changes))

    def delete(self, endpoint_id: str) -> Deleted:
        return self._s.send(calls.delete_endpoint(endpoint_id))

    def rotate_secret(self, endpoint_id: str) -> SecretRotation:
        """A new secret; the old one keeps signing (a second signature) for 24 h."""
        return self._s.send(calls.rotate_secret(endpoint_id))

    def send_test(self, endpoint_id: str) -> Event:
        """Send a signed ``webhook.test`` event to it now."""
        return self._s.send(calls.send_test(endpoint_id))

    def recover(self, endpoint_id: str, *, since: float, until: float | None = None) -> Recovery:
        """Resend, in the background, its failed deliveries of events made in the window."""
        return self._s.send(calls.recover(endpoint_id, since, until))

    def get_recovery(self, endpoint_id: str, recovery_id: str) -> Recovery:
        return self._s.send(calls.get_recovery(endpoint_id, recovery_id))

    def activity(
        self, endpoint_id: str, *, minutes: int | None = None
    ) -> tuple[ActivityMinute, ...]:
        """Its attempts per minute by outcome, oldest first, ending with this minute
        (``minutes``: 1 to 180, 60 when not given)."""
        return self._s.send(calls.endpoint_activity(endpoint_id, minutes))


class Batches:
    """``/v1/batches``: the provider batches watched, and their result files."""

    def __init__(self, sender: _Sender) -> None:
        self._s = sender

    def watch(
        self,
        *,
        batch_id: str,
        connection_id: str,
        endpoint_ids: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        poll_interval: float | None = None,
    ) -> BatchWatch:
        """Start watching (idempotent: ``.created`` is False when it already was)."""
        return self._s.send(
            calls.watch_batch(
                batch_id=batch_id,
                connection_id=connection_id,
                endpoint_ids=endpoint_ids,
                metadata=metadata,
                poll_interval=poll_interval,
            )
        )

    def list(self, *, limit: int | None = None) -> Iterator[BatchWatch]:
        return self._s.walk(lambda after: calls.list_batches(limit, after))

    def list_page(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Page[BatchWatch]:
        return self._s.send(calls.list_batches(limit, starting_after))

    def get(self, batch_id: str) -> BatchWatch:
        """With its ``history`` and ``events``."""
        return self._s.send(calls.get_batch(batch_id))

    def unwatch(self, batch_id: str) -> Deleted:
        return self._s.send(calls.unwatch_batch(batch_id))

    def output(self, batch_id: str, *, chunk_size: int | None = None) -> Iterator[bytes]:
        """The output file (JSON Lines) in chunks, as the provider sends it through the
        API; the request is made when the iteration starts."""
        return self._s.stream(calls.result_file(batch_id, "output"), chunk_size)

    def errors(self, batch_id: str, *, chunk_size: int | None = None) -> Iterator[bytes]:
        """The error file (the failed requests), like ``output``."""
        return self._s.stream(calls.result_file(batch_id, "errors"), chunk_size)

    def write_output(self, batch_id: str, file: IO[bytes]) -> int:
        """Write the output file to ``file``; the number of bytes written."""
        return _write(self.output(batch_id), file)

    def write_errors(self, batch_id: str, file: IO[bytes]) -> int:
        return _write(self.errors(batch_id), file)


def _write(chunks: Iterator[bytes], file: IO[bytes]) -> int:
    written = 0
    for chunk in chunks:
        file.write(chunk)
        written += len(chunk)
    return written


class Events:
    """``/v1/events``: what was sent, every delivery and attempt; redelivery."""

    def __init__(self, sender: _Sender) -> None:
        self._s = sender

    def list(
        self, *, batch_id: str | None = None, type: str | None = None, limit: int | None = None
    ) -> Iterator[Event]:
        """Newest first, optionally of one batch and one type."""
        return self._s.walk(lambda after: calls.list_events(limit, after, batch_id, type))

    def list_page(
        self,
        *,
        batch_id: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
    ) -> Page[Event]:
        return self._s.send(calls.list_events(limit, starting_after, batch_id, type))

    def get(self, event_id: str) -> Event:
        return self._s.send(calls.get_event(event_id))

    def redeliver(self, event_id: str, *, endpoint_id: str | None = None) -> Event:
        """New attempts (same ``webhook-id``) to every endpoint, or to ``endpoint_id``."""
        return self._s.send(calls.redeliver(event_id, endpoint_id))


class EventTypes:
    """``/v1/event-types``: the catalog of every event type, with samples."""

    def __init__(self, sender: _Sender) -> None:
        self._s = sender

    def list(self) -> Iterator[EventType]:
        return self._s.walk(lambda after: calls.list_event_types(None, after))


class Client:
    """A batchhook API client. ``max_retries`` retries of a failed call (see
    ``_retries``); ``timeout`` in seconds (or an ``httpx.Timeout``) for every request;
    ``http_client`` to bring your own ``httpx.Client`` (which ``close`` leaves open)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int = 2,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._core = Core(base_url, token, timeout=timeout, max_retries=max_retries)
        self._owns_http = http_client is None
        sender = _Sender(self._core, http_client or httpx.Client(follow_redirects=False))
        self._http = sender.http
        self.connections = Connections(sender)
        self.endpoints = Endpoints(sender)
        self.batches = Batches(sender)
        self.events = Events(sender)
        self.event_types = EventTypes(sender)

    def __repr__(self) -> str:
        return f"Client({self._core.base_url!r})"

    def watch_batch(
        self,
        *,
        batch_id: str,
        connection_id: str,
        endpoint_ids: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        poll_interval: float | None = None,
    ) -> BatchWatch:
        """``batches.watch``: start watching a provider batch."""
        return self.batches.watch(
            batch_id=batch_id,
            connection_id=connection_id,
            endpoint_ids=endpoint_ids,
            metadata=metadata,
            poll_interval=poll_interval,
        )

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
