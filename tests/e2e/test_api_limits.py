"""Oversized and malformed requests: a 4xx with the contract's error body, nothing stored,
and the server goes on serving."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.flows import connect, new_batch_id
from tests.e2e.stack import Stack
from tests.e2e.test_api import assert_error
from tests.support.provider_stub import ProviderStub

MIB = 1024 * 1024


def endpoint_count(api: httpx.Client) -> int:
    return len(api.get("/v1/endpoints").json()["data"])


def test_a_body_over_the_limit_is_refused_with_413_and_nothing_stored(api: httpx.Client) -> None:
    before = endpoint_count(api)
    padding = "x" * (MIB + 10)
    answer = api.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/", "description": padding})
    assert_error(answer, 413)
    assert "larger than 1048576 bytes" in answer.json()["error"]["message"]
    assert endpoint_count(api) == before


def test_a_streamed_body_without_content_length_is_cut_off_at_the_limit(
    api: httpx.Client,
) -> None:
    before = endpoint_count(api)

    def endless() -> Iterator[bytes]:  # sent chunked: no content-length to refuse up front
        yield b'{"url": "http://127.0.0.1:9/", "description": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    answer = api.post(
        "/v1/endpoints", content=endless(), headers={"content-type": "application/json"}
    )
    assert_error(answer, 413)
    assert endpoint_count(api) == before
    assert api.get("/healthz").status_code == 200


def test_headers_over_the_limits_get_431(api: httpx.Client) -> None:
    assert_error(api.get("/v1/endpoints", headers={"x-padding": "z" * 20_000}), 431)
    many = {f"x-h{i}": "1" for i in range(120)}
    assert_error(api.get("/v1/endpoints", headers=many), 431)
    assert api.get("/v1/endpoints").status_code == 200


def test_a_url_over_the_limit_gets_414(api: httpx.Client) -> None:
    assert_error(api.get("/v1/events", params={"batch_id": "b" * 5000}), 414)
    assert_error(api.get("/v1/batches/" + "c" * 5000), 414)


def raw_exchange(stack: Stack, *chunks: bytes) -> bytes:
    """Send the chunks on one connection, one write each; all the server answers until
    it closes (or goes quiet for ten seconds)."""
    address = urlsplit(stack.api_url)
    answer = b""
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        for chunk in chunks:
            try:
                raw.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server refused and closed: read what it said
        with contextlib.suppress(OSError):  # already reset by the server
            raw.shutdown(socket.SHUT_WR)
        with contextlib.suppress(ConnectionResetError):  # closed with our bytes unread
            while data := raw.recv(65536):
                answer += data
    return answer


def assert_head_refused(answer: bytes, why: str) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), head[:100]
    assert b"connection: close" in head.lower()
    assert why in json.loads(body)["error"]["message"]


def test_a_request_head_too_large_to_parse_gets_431_and_the_server_lives_on(
    stack: Stack, api: httpx.Client
) -> None:
    """A head over 64 KiB gets 431 with the contract's error body (from the header limit
    when the whole head came in one read, else from the server's head limit); the next
    request is served as usual."""
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    assert_head_refused(raw_exchange(stack, big[:50_000], big[50_000:]), "larger than")
    assert api.get("/healthz").status_code == 200


def test_a_head_dripped_in_small_writes_is_cut_off_at_the_limit(stack: Stack) -> None:
    """A head that never ends, sent a kilobyte at a time in many headers: refused once
    it passes 64 KiB, not kept for ever."""
    drip = [b"GET /healthz HTTP/1.1\r\nHost: x\r\n"]
    drip += [b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(200)]
    assert_head_refused(raw_exchange(stack, *drip), "request head is larger than 65536 bytes")


def test_requests_after_large_bodies_on_one_connection_are_served(stack: Stack) -> None:
    """Only heads count toward the head limit: three requests on one kept-alive
    connection, each with a body near the body limit, are all answered (401: no token).
    The connection stays open while the answers are read, as a kept-alive client's does
    (a client that half-closes may lose pipelined answers to the server's close)."""
    body = b"{" + b" " * 900_000 + b"}"
    request = b"POST /v1/endpoints HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    address = urlsplit(stack.api_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall((request + body) * 3)
        heads = read_answers(raw, 3)
    assert all(head.startswith(b"HTTP/1.1 401") for head in heads), heads


def read_answers(raw: socket.socket, count: int) -> list[bytes]:
    """The heads of the next ``count`` answers on a kept-alive connection, however the
    reads split them (several may arrive in one)."""
    received, heads = b"", list[bytes]()
    while len(heads) < count:
        head, sep, rest = received.partition(b"\r\n\r\n")
        length = content_length(head) if sep else None
        if length is not None and len(rest) >= length:
            heads.append(head)
            received = rest[length:]
            continue
        data = raw.recv(65536)
        assert data, f"connection closed after {len(heads)} answers: {received[:100]!r}"
        received += data
    return heads


def content_length(head: bytes) -> int:
    [line] = [li for li in head.split(b"\r\n") if li.lower().startswith(b"content-length:")]
    return int(line.split(b":", 1)[1])


def test_a_bad_content_length_gets_400(stack: Stack) -> None:
    address = urlsplit(stack.api_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall(b"POST /v1/endpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n{}")
        status_line = raw.recv(200).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 400"), status_line


def answer_date(head: bytes) -> float:
    [date] = [line for line in head.split(b"\r\n") if line.lower().startswith(b"date:")]
    return parsedate_to_datetime(date.split(b":", 1)[1].strip().decode()).timestamp()


def read_answer(raw: socket.socket) -> bytes:
    """One whole answer from a kept-alive connection (head and body may arrive in
    separate reads); its head is returned."""
    return read_answers(raw, 1)[0]


def test_every_answer_carries_the_current_date(stack: Stack) -> None:
    """The ``date`` header is refreshed as requests arrive (the server's housekeeping
    loop sleeps while it is idle): two answers a second or more apart on one kept-alive
    connection carry different, current dates; so does a refusal."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    address = urlsplit(stack.api_url)
    dates = []
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        for _ in range(2):
            raw.sendall(request)
            head = read_answer(raw)
            assert head.startswith(b"HTTP/1.1 200"), head[:100]
            dates.append(answer_date(head))
            assert abs(dates[-1] - time.time()) <= 1.5
            time.sleep(1.2)  # let the clock pass a second: nothing else to wait on
    assert dates[1] >= dates[0] + 1
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    refused = raw_exchange(stack, big[:50_000], big[50_000:])
    assert abs(answer_date(refused.partition(b"\r\n\r\n")[0]) - time.time()) <= 1.5


@pytest.mark.parametrize(
    ("metadata", "why"),
    [
        ({f"k{i}": "v" for i in range(17)}, "at most 16"),
        ({"k" * 65: "v"}, "at most 64"),
        ({"k": "v" * 513}, "at most 512"),
        ({"k": 7}, "string"),
        ({"k": {"nested": "no"}}, "string"),
        ({"": "v"}, "at least 1"),
    ],
)
def test_metadata_follows_openais_rule(
    api: httpx.Client, metadata: dict[str, object], why: str
) -> None:
    with ProviderStub("openai", api_key="sk-meta") as stub:
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        body = {"batch_id": batch_id, "connection_id": conn["id"], "metadata": metadata}
        refused = api.post("/v1/batches", json=body)
        assert_error(refused, 422)
        assert why in refused.json()["error"]["message"]
        assert_error(api.get(f"/v1/batches/{batch_id}"), 404)


def test_metadata_at_the_limits_is_kept(api: httpx.Client) -> None:
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    with ProviderStub("openai", api_key="sk-meta-ok") as stub:
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        body = {"batch_id": batch_id, "connection_id": conn["id"], "metadata": metadata}
        assert api.post("/v1/batches", json=body).status_code == 201
        assert api.get(f"/v1/batches/{batch_id}").json()["metadata"] == metadata


def test_an_oversized_inbound_webhook_is_refused_before_verification(
    stack: Stack, api: httpx.Client
) -> None:
    with ProviderStub("openai", api_key="sk-inbound-big") as stub:
        conn = connect(api, stub, webhook_secret="whsec_" + "aW5ib3VuZC1zZWNyZXQtZm9yLXRlc3Rz")
    answer = httpx.post(
        f"{stack.api_url}/v1/inbound/{conn['id']}", content=b"{" + b" " * (2 * MIB) + b"}"
    )
    assert_error(answer, 413)
