"""Every API answer names its request in ``x-request-id``; the request's log lines too."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.e2e.stack import Stack
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

NEW_ID = re.compile(r"req_[0-9a-f]{24}")


def test_an_answer_without_a_callers_id_gets_a_new_one_each_time(api: httpx.Client) -> None:
    first, second = api.get("/v1/endpoints"), api.get("/healthz")

    assert NEW_ID.fullmatch(first.headers["x-request-id"])
    assert NEW_ID.fullmatch(second.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    "sent", ["trace-1", "01HZX3.k:span_7-a", "a", "x" * 128, "550e8400-e29b-41d4-a716-446655440000"]
)
def test_a_sane_callers_id_is_answered_back(api: httpx.Client, sent: str) -> None:
    answer = api.get("/v1/batches", headers={"x-request-id": sent})

    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == sent


@pytest.mark.parametrize(
    "sent", ["", "x" * 129, "has space", "semi;colon", "slash/y", 'quote"d', "caf\u00e9"]
)
def test_an_unfit_callers_id_is_replaced(api: httpx.Client, sent: str) -> None:
    answer = api.get("/v1/batches", headers=[("x-request-id", sent.encode("latin-1"))])

    assert answer.status_code == 200
    assert NEW_ID.fullmatch(answer.headers["x-request-id"])


def test_error_answers_carry_the_id_and_keep_the_contract_body(
    stack: Stack, api: httpx.Client
) -> None:
    sent = {"x-request-id": "err-check-1"}
    answers = [
        httpx.get(f"{stack.api_url}/v1/batches", headers=sent),  # 401: no token
        api.get("/v1/endpoints/ep_missing", headers=sent),  # 404
        api.post("/v1/endpoints", json={"url": "not a url"}, headers=sent),  # 422
        api.get("/v1/events/stream", params={"types": "nope"}, headers=sent),  # 422
        api.post("/v1/endpoints", content=b"x" * (2 * 1024 * 1024), headers=sent),  # 413
        api.delete("/healthz", headers=sent),  # 405
    ]

    assert [a.status_code for a in answers] == [401, 404, 422, 422, 413, 405]
    for answer in answers:
        assert answer.headers["x-request-id"] == "err-check-1"
        body = answer.json()
        assert list(body) == ["error"]
        assert sorted(body["error"]) == ["message", "type"]


def test_the_event_stream_carries_the_id(api: httpx.Client) -> None:
    with api.stream("GET", "/v1/events/stream", headers={"x-request-id": "stream-1"}) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.headers["x-request-id"] == "stream-1"


def test_the_log_lines_of_a_request_name_its_id(own_stack: tuple[Stack, RedisServer]) -> None:
    stack, redis_server = own_stack
    stack.start_web()
    with stack.client() as api:
        redis_server.stop()  # the API logs why it answers 503
        try:
            answer = api.get("/v1/endpoints", headers={"x-request-id": "logged-req-42"})
        finally:
            redis_server.start()
    assert answer.status_code == 503
    assert answer.headers["x-request-id"] == "logged-req-42"

    def logged() -> list[dict[str, object]]:
        lines = [json.loads(x) for x in stack.logs().splitlines() if x.startswith("{")]
        return [line for line in lines if line.get("event") == "redis_unavailable"]

    [line] = wait_until(logged, message="the web process never logged redis_unavailable")
    assert line["request_id"] == "logged-req-42"
