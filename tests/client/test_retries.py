"""Retries and timeouts, against a loopback server standing in for the API (a fake at
the process boundary: the real API cannot be told to answer 429 or 502 on cue)."""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Iterator

import pytest
from batchhook_client import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Client,
    InternalServerError,
    RateLimitError,
)

from tests.support.http_server import Answer, LoopbackServer, Request
from tests.support.waiting import free_port

CONNECTION = {"id": "conn_1", "object": "connection", "provider": "openai", "base_url": "x"}
WATCH = {"object": "batch_watch", "batch_id": "batch_1", "connection_id": "conn_1"}


def error(status: int, headers: dict[str, str] | None = None) -> Answer:
    body = {"error": {"type": "rate_limit_error", "message": f"answer {status}"}}
    return Answer(
        status, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})}
    )


def ok(body: dict[str, object], status: int = 200) -> Answer:
    return Answer(status, json.dumps(body).encode(), {"content-type": "application/json"})


class ScriptedAPI:
    """Answers each request with the next scripted answer (the last one then repeats)."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, Request]] = []
        self._answers: deque[Answer] = deque()
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._handle)

    def script(self, *answers: Answer) -> None:
        with self._lock:
            self._answers = deque(answers)
            self.requests.clear()

    def _handle(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append((time.monotonic(), request))
            return self._answers.popleft() if len(self._answers) > 1 else self._answers[0]

    def gaps_s(self) -> list[float]:
        times = [at for at, _ in self.requests]
        return [later - earlier for earlier, later in itertools.pairwise(times)]


@pytest.fixture
def fake_api() -> Iterator[ScriptedAPI]:
    api = ScriptedAPI()
    with api.server:
        yield api


def test_a_429_is_retried_after_the_retry_after_it_names(fake_api: ScriptedAPI) -> None:
    fake_api.script(error(429, {"retry-after": "1"}), ok(CONNECTION))

    with Client(fake_api.server.url, "bh_token") as client:
        conn = client.connections.get("conn_1")

    assert conn.id == "conn_1"
    assert len(fake_api.requests) == 2
    assert 0.9 <= fake_api.gaps_s()[0] < 3


def test_retry_after_may_be_an_http_date(fake_api: ScriptedAPI) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    fake_api.script(error(503, {"retry-after": when}), ok(CONNECTION))

    with Client(fake_api.server.url, "bh_token") as client:
        client.connections.get("conn_1")

    assert len(fake_api.requests) == 2
    assert 0.5 <= fake_api.gaps_s()[0] < 3.5


def test_retries_stop_after_max_retries_with_the_last_error(fake_api: ScriptedAPI) -> None:
    fake_api.script(error(429, {"retry-after": "0"}))

    client = Client(fake_api.server.url, "bh_secret_token", max_retries=3)
    with client, pytest.raises(RateLimitError) as caught:
        client.connections.get("conn_1")

    assert len(fake_api.requests) == 4
    assert (caught.value.status_code, caught.value.retry_after_s) == (429, 0.0)
    assert "bh_secret_token" not in str(caught.value)


def test_a_429_is_retried_for_a_post_that_is_not_idempotent(fake_api: ScriptedAPI) -> None:
    fake_api.script(error(429, {"retry-after": "0"}), ok({"id": "ep_1", "secret": "whsec_x"}, 201))

    with Client(fake_api.server.url, "bh_token") as client:
        assert client.endpoints.create(url="https://example.com/h").id == "ep_1"

    assert len(fake_api.requests) == 2


def test_a_502_is_retried_for_idempotent_calls_only(fake_api: ScriptedAPI) -> None:
    fake_api.script(error(502), ok(WATCH, 201))
    with Client(fake_api.server.url, "bh_token") as client:
        watched = client.batches.watch(batch_id="batch_1", connection_id="conn_1")
    assert watched.created is True and len(fake_api.requests) == 2

    fake_api.script(error(502), ok({"id": "ep_1"}, 201))
    with Client(fake_api.server.url, "bh_token") as client, pytest.raises(InternalServerError):
        client.endpoints.create(url="https://example.com/h")  # may have been made: not resent
    assert len(fake_api.requests) == 1


def test_the_async_client_retries_the_same_way(fake_api: ScriptedAPI) -> None:
    fake_api.script(error(429, {"retry-after": "1"}), ok(CONNECTION))

    async def get() -> str:
        async with AsyncClient(fake_api.server.url, "bh_token") as client:
            return (await client.connections.get("conn_1")).id

    assert asyncio.run(get()) == "conn_1"
    assert len(fake_api.requests) == 2 and fake_api.gaps_s()[0] >= 0.9


def test_a_refused_connection_is_retried_then_raised() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()

    client = Client(url, "bh_secret_token", max_retries=2)
    with client, pytest.raises(APIConnectionError) as caught:
        client.endpoints.create(url="https://example.com/h")

    assert time.monotonic() - started >= 0.5 * 0.75 + 1.0 * 0.75  # two back-offs waited
    assert not isinstance(caught.value, APITimeoutError)
    assert "bh_secret_token" not in str(caught.value)


def test_a_slow_answer_raises_a_timeout(fake_api: ScriptedAPI) -> None:
    fake_api.script(Answer(200, json.dumps(CONNECTION).encode(), delay_s=2))

    client = Client(fake_api.server.url, "bh_token", timeout=0.3, max_retries=0)
    with client, pytest.raises(APITimeoutError):
        client.connections.get("conn_1")
