"""The asynchronous client: ``AsyncClient(base_url, token)``, with the resources and calls
of ``client.Client`` as coroutines; ``list``, ``output`` and ``errors`` are async
iterators.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
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


class _AsyncSender:
    """Sends calls with retries over one ``httpx.AsyncClient``."""

    def __init__(self, core: Core, http: httpx.AsyncClient) -> None:
        self.core = core
        self.http = http

    async def send(self, call: Call[T]) -> T:
        return call.read(await self.open(call, stream=False))

    async def open(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        retry = 0
        while True:
            try:
                response = await self.http.send(self.core.request(self.http, call), stream=stream)
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
                        await response.aread()
                        raise self.core.status_error(call, response)
                    finally:
                        await response.aclose()
                await response.aclose()
            await asyncio.sleep(wait_s)
            retry += 1

    async def walk(self, page: Callable[[str | None], Call[Page[T]]]) -> AsyncIterator[T]:
        after: str | None = None
        while True:
            found = await self.send(page(after))
            for item in found.data:
                yield item
            following = found.next_starting_after
            if not found.has_more or following is None or following == after:
                return
            after = following

    async def stream(self, call: Call[Any], chunk_size: int | None) -> AsyncIterator[bytes]:
        response = await self.open(call, stream=True)
        try:
            async for chunk in response.aiter_bytes(chunk_size):
                yield chunk
        except httpx.TransportError as error:
            raise self.core.connection_error(call, error) from error
        finally:
            await response.aclose()


class AsyncConnections:
    def __init__(self, sender: _AsyncSender) -> None:
        self._s = sender

    async def create(
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
        return await self._s.send(
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

    def list(self, *, limit: int | None = None) -> AsyncIterator[Connection]:
        return self._s.walk(lambda after: calls.list_connections(limit, after))

    async def list_page(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Page[Connection]:
        return await self._s.send(calls.list_connections(limit, starting_after))

    async def get(self, connection_id: str) -> Connection:
        return await self._s.send(calls.get_connection(connection_id))

    async def delete(self, connection_id: str) -> Deleted:
        return await self._s.send(calls.delete_connection(connection_id))


class AsyncEndpoints:
    def __init__(self, sender: _AsyncSender) -> None:
        self._s = sender

    async def create(
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
        return await self._s.send(
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

    def list(self, *, limit: int | None = None) -> AsyncIterator[Endpoint]:
        return self._s.walk(lambda after: calls.list_endpoints(limit, after))

    async def list_page(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Page[Endpoint]:
        return await self._s.send(calls.list_endpoints(limit, starting_after))

    async def get(self, endpoint_id: str) -> Endpoint:
        return await self._s.send(calls.get_endpoint(endpoint_id))

    async def update(self, endpoint_id: str, **changes: Unpack[EndpointChanges]) -> Endpoint:
        return await self._s.send(calls.update_endpoint(endpoint_id, changes))

    async def delete(self, endpoint_id: str) -> Deleted:
        return await self._s.send(calls.delete_endpoint(endpoint_id))

    async def rotate_secret(self, endpoint_id: str) -> SecretRotation:
        return await self._s.send(calls.rotate_secret(endpoint_id))

    async def send_test(self, endpoint_id: str) -> Event:
        return await self._s.send(calls.send_test(endpoint_id))

    async def recover(
        self, endpoint_id: str, *, since: float, until: float | None = None
    ) -> Recovery:
        return await self._s.send(calls.recover(endpoint_id, since, until))

    async def get_recovery(self, endpoint_id: str, recovery_id: str) -> Recovery:
        return await self._s.send(calls.get_recovery(endpoint_id, recovery_id))

    async def activity(
        self, endpoint_id: str, *, minutes: int | None = None
    ) -> tuple[ActivityMinute, ...]:
        """Its attempts per minute by outcome, oldest first, ending with this minute
        (``minutes``: 1 to 180, 60 when not given)."""
        return await self._s.send(calls.endpoint_activity(endpoint_id, minutes))


class AsyncBatches:
    def __init__(self, sender: _AsyncSender) -> None:
        self._s = sender

    async def watch(
        self,
        *,
        batch_id: str,
        connection_id: str,
        endpoint_ids: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        poll_interval: float | None = None,
    ) -> BatchWatch:
        return await self._s.send(
            calls.watch_batch(
                batch_id=batch_id,
                connection_id=connection_id,
                endpoint_ids=endpoint_ids,
                metadata=metadata,
                poll_interval=poll_interval,
            )
        )

    def list(self, *, limit: int | None = None) -> AsyncIterator[BatchWatch]:
        return self._s.walk(lambda after: calls.list_batches(limit, after))

    async def list_page(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Page[BatchWatch]:
        return await self._s.send(calls.list_batches(limit, starting_after))

    async def get(self, batch_id: str) -> BatchWatch:
        return await self._s.send(calls.get_batch(batch_id))

    async def unwatch(self, batch_id: str) -> Deleted:
        return await self._s.send(calls.unwatch_batch(batch_id))

    def output(self, batch_id: str, *, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        return self._s.stream(calls.result_file(batch_id, "output"), chunk_size)

    def errors(self, batch_id: str, *, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        return self._s.stream(calls.result_file(batch_id, "errors"), chunk_size)

    async def write_output(self, batch_id: str, file: IO[bytes]) -> int:
        return await _write(self.output(batch_id), file)

    async def write_errors(self, batch_id: str, file: IO[bytes]) -> int:
        return await _write(self.errors(batch_id), file)


async def _write(chunks: AsyncIterator[bytes], file: IO[bytes]) -> int:
    written = 0
    async for chunk in chunks:
        file.write(chunk)
        written += len(chunk)
    return written


class AsyncEvents:
    def __init__(self, sender: _AsyncSender) -> None:
        self._s = sender

    def list(
        self, *, batch_id: str | None = None, type: str | None = None, limit: int | None = None
    ) -> AsyncIterator[Event]:
        return self._s.walk(lambda after: calls.list_events(limit, after, batch_id, type))

    async def list_page(
        self,
        *,
        batch_id: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
    ) -> Page[Event]:
        return await self._s.send(calls.list_events(limit, starting_after, batch_id, type))

    async def get(self, event_id: str) -> Event:
        return await self._s.send(calls.get_event(event_id))

    async def redeliver(self, event_id: str, *, endpoint_id: str | None = None) -> Event:
        return await self._s.send(calls.redeliver(event_id, endpoint_id))


class AsyncEventTypes:
    def __init__(self, sender: _AsyncSender) -> None:
        self._s = sender

    def list(self) -> AsyncIterator[EventType]:
        return self._s.walk(lambda after: calls.list_event_types(None, after))


class AsyncClient:
    """``Client`` for asyncio: the same arguments, resources and calls, awaited."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int = 2,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._core = Core(base_url, token, timeout=timeout, max_retries=max_retries)
        self._owns_http = http_client is None
        sender = _AsyncSender(self._core, http_client or httpx.AsyncClient(follow_redirects=False))
        self._http = sender.http
        self.connections = AsyncConnections(sender)
        self.endpoints = AsyncEndpoints(sender)
        self.batches = AsyncBatches(sender)
        self.events = AsyncEvents(sender)
        self.event_types = AsyncEventTypes(sender)

    def __repr__(self) -> str:
        return f"AsyncClient({self._core.base_url!r})"

    async def watch_batch(
        self,
        *,
        batch_id: str,
        connection_id: str,
        endpoint_ids: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        poll_interval: float | None = None,
    ) -> BatchWatch:
        return await self.batches.watch(
            batch_id=batch_id,
            connection_id=connection_id,
            endpoint_ids=endpoint_ids,
            metadata=metadata,
            poll_interval=poll_interval,
        )

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
