"""The request id middleware, around an app that fails where no handler catches it."""

from __future__ import annotations

import asyncio
import re

import httpx
from starlette.types import Receive, Scope, Send

from worker.api.request_id import RequestId, request_id


async def broken_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a bug")


def test_an_unhandled_failure_still_answers_500_with_the_id_and_the_contract_body() -> None:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=RequestId(broken_app), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/v1/batches", headers={"x-request-id": "bug-1"})

    answer = asyncio.run(call())

    assert answer.status_code == 500
    assert answer.headers["x-request-id"] == "bug-1"
    assert answer.json() == {"error": {"type": "api_error", "message": "internal error"}}


def test_a_sane_id_is_kept_and_any_other_replaced() -> None:
    assert request_id("abc.DEF_1:2-3") == "abc.DEF_1:2-3"
    for unfit in (None, "", "x" * 129, "a b", "a/b"):
        assert re.fullmatch(r"req_[0-9a-f]{24}", request_id(unfit))
