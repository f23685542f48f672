"""A client of the API's event stream, read in a background thread as it arrives.

It keeps every line as sent (to check the wire format and the keep-alive comments) and
the events parsed from them, per the server-sent events rules the API uses: ``id``,
``event`` and ``data`` fields, an event ended by a blank line, comments starting ``:``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.waiting import wait_until


@dataclass(frozen=True)
class StreamedEvent:
    id: str
    event: str
    data: str
    lines: tuple[str, ...]  # the event's lines as sent, the blank line left out


class EventStream:
    """``GET /v1/events/stream``, open from the constructor until ``close`` (which
    cancels the read, so the connection is closed at once, as a client going away)."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.lines: list[str] = []
        self.events: list[StreamedEvent] = []
        self.ended = threading.Event()
        self._lock = threading.Lock()
        self._opened = threading.Event()
        self._request = (api_url, token, params or {}, headers or {})
        self._response: httpx.Response | None = None
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self._thread.start()
        if not self._opened.wait(15):
            raise TimeoutError("the event stream never answered")
        if self._failure is not None:
            raise self._failure

    @property
    def response(self) -> httpx.Response:
        assert self._response is not None
        return self._response

    async def _main(self) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        api_url, token, params, headers = self._request
        try:
            async with (
                httpx.AsyncClient(
                    base_url=api_url,
                    headers={"authorization": f"Bearer {token}", "accept": "text/event-stream"},
                    timeout=httpx.Timeout(10, read=60),
                ) as client,
                client.stream(
                    "GET", "/v1/events/stream", params=params, headers=headers
                ) as response,
            ):
                self._response = response
                if response.status_code != 200:
                    await response.aread()
                self._opened.set()
                if response.status_code == 200:
                    await self._parse(response)
        except (asyncio.CancelledError, httpx.HTTPError):
            pass  # closed by the test, or the server went away: ``ended`` says so
        except Exception as failure:
            self._failure = failure
        finally:
            self._opened.set()
            self.ended.set()

    async def _parse(self, response: httpx.Response) -> None:
        pending: list[str] = []
        async for line in response.aiter_lines():
            with self._lock:
                self.lines.append(line)
            if line:
                pending.append(line)
                continue
            fields: dict[str, str] = {}
            for part in pending:
                if not part.startswith(":"):
                    name, _, value = part.partition(":")
                    fields[name] = value.removeprefix(" ")
            if "data" in fields:
                event = StreamedEvent(
                    id=fields.get("id", ""),
                    event=fields.get("event", "message"),
                    data=fields["data"],
                    lines=tuple(pending),
                )
                with self._lock:
                    self.events.append(event)
            pending = []

    def wait_for(
        self,
        count: int = 1,
        timeout_s: float = 30,
        predicate: Callable[[StreamedEvent], bool] | None = None,
    ) -> list[StreamedEvent]:
        """The events received once ``count`` of them (that ``predicate`` keeps) came."""

        def enough() -> list[StreamedEvent] | None:
            with self._lock:
                got = list(self.events)
            found = [e for e in got if predicate is None or predicate(e)]
            return got if len(found) >= count else None

        return wait_until(enough, timeout_s=timeout_s, message=f"fewer than {count} events")

    def wait_for_id(self, event_id: str, timeout_s: float = 30) -> list[StreamedEvent]:
        return self.wait_for(1, timeout_s, lambda e: e.id == event_id)

    def wait_for_line(self, line: str, timeout_s: float = 30) -> None:
        def sent() -> bool:
            with self._lock:
                return line in self.lines

        wait_until(sent, timeout_s=timeout_s, message=f"the stream never sent {line!r}")

    def close(self) -> None:
        if self._loop is not None and self._task is not None and not self.ended.is_set():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
