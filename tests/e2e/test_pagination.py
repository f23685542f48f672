"""Every list call pages the same way: ``limit``, ``starting_after`` and ``has_more``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.flows import connect, new_batch_id, subscribe, watch
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until

LISTS = {  # path -> the field that names an item (what starting_after takes)
    "/v1/connections": "id",
    "/v1/endpoints": "id",
    "/v1/batches": "batch_id",
    "/v1/events": "id",
}


def listed(api: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    answer = api.get(path, params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["object"] == "list"
    assert isinstance(body["has_more"], bool)
    return body


def pages(api: httpx.Client, path: str, limit: int, **params: Any) -> list[list[str]]:
    """The ids of each page, following ``starting_after`` until ``has_more`` is false."""
    name, found, after = LISTS[path], [], None
    while True:
        cursor = {"starting_after": after} if after else {}
        body = listed(api, path, limit=limit, **params, **cursor)
        found.append([item[name] for item in body["data"]])
        if not body["has_more"]:
            return found
        assert found[-1], "has_more with an empty page"
        after = found[-1][-1]


def make_five(api: httpx.Client, path: str, stub: ProviderStub, receiver: Receiver) -> None:
    """Five items of the list at ``path``, in a tenant of their own."""
    if path == "/v1/connections":
        for _ in range(5):
            connect(api, stub)
    elif path == "/v1/endpoints":
        for _ in range(5):
            subscribe(api, receiver)
    elif path == "/v1/batches":
        conn = connect(api, stub)
        for _ in range(5):
            batch_id = new_batch_id()
            stub.set_batch(batch_id, "in_progress")
            watch(api, batch_id, conn["id"], poll_interval=3600)
    else:
        endpoint = subscribe(api, receiver)
        for _ in range(5):
            assert api.post(f"/v1/endpoints/{endpoint['id']}/test").status_code == 202


@pytest.mark.parametrize("path", sorted(LISTS))
def test_each_list_pages_through_every_item_once_in_its_own_order(
    api: httpx.Client, receiver: Receiver, path: str
) -> None:
    with ProviderStub("openai", api_key="sk-pages") as stub:
        make_five(api, path, stub, receiver)
        name = LISTS[path]
        whole = listed(api, path)  # the default limit, 100, holds them all
        everything = [item[name] for item in whole["data"]]
        if path == "/v1/events":  # newest first
            created = [e["created_at"] for e in whole["data"]]
            assert created == sorted(created, reverse=True)
        assert len(everything) == 5 and whole["has_more"] is False

        by_two = pages(api, path, limit=2)
        assert [len(page) for page in by_two] == [2, 2, 1]
        assert [i for page in by_two for i in page] == everything
        assert pages(api, path, limit=5) == [everything]  # a full last page: no more
        assert pages(api, path, limit=1000) == [everything]


def test_event_pages_keep_the_batch_and_type_filters(api: httpx.Client, receiver: Receiver) -> None:
    with ProviderStub("openai", api_key="sk-pages-filter") as stub:
        conn = connect(api, stub)
        endpoint = subscribe(api, receiver)
        batch_id = new_batch_id()
        stub.script(batch_id, ["in_progress", "finalizing", "completed"])
        watch(api, batch_id, conn["id"])
        for _ in range(3):
            assert api.post(f"/v1/endpoints/{endpoint['id']}/test").status_code == 202
        wait_until(
            lambda: len(listed(api, "/v1/events", batch_id=batch_id)["data"]) == 3,
            timeout_s=30,
            message="the batch's three events never came",
        )
        other = new_batch_id()  # another batch's events stay out of the first one's pages
        stub.set_batch(other, "completed")
        watch(api, other, conn["id"])
        wait_until(lambda: listed(api, "/v1/events", batch_id=other)["data"], timeout_s=30)

        tests = pages(api, "/v1/events", limit=2, type="webhook.test")
        assert [len(page) for page in tests] == [2, 1]
        shown = [api.get(f"/v1/events/{i}").json() for page in tests for i in page]
        assert {e["type"] for e in shown} == {"webhook.test"}

        of_batch = [e["id"] for e in listed(api, "/v1/events", batch_id=batch_id)["data"]]
        assert [i for page in pages(api, "/v1/events", 1, batch_id=batch_id) for i in page] == (
            of_batch
        )
        types = [api.get(f"/v1/events/{i}").json()["type"] for i in of_batch]
        assert types == ["batch.completed", "batch.finalizing", "batch.in_progress"]

        completed = pages(api, "/v1/events", 1, batch_id=batch_id, type="batch.completed")
        assert completed == [[of_batch[0]]]
        everything = listed(api, "/v1/events")["data"]
        assert len(everything) == 7  # 3 + 3 tests + the other batch's completion


def test_batch_pages_keep_the_status_and_connection_filters(
    stack: Stack, api: httpx.Client
) -> None:
    with ProviderStub("openai", api_key="sk-pages-batches") as stub:
        first, second = connect(api, stub), connect(api, stub)
        plan = [(first, "completed"), (first, "in_progress"), (second, "completed"),
                (first, "completed"), (second, "completed"), (first, "in_progress"),
                (first, "completed")]  # fmt: skip
        batch_ids = []
        for conn, status in plan:
            batch_id = new_batch_id()
            stub.set_batch(batch_id, status)
            watch(api, batch_id, conn["id"], poll_interval=3600)
            batch_ids.append(batch_id)
        wait_until(
            lambda: all(b["normalized_status"] for b in listed(api, "/v1/batches")["data"]),
            timeout_s=30,
            message="a batch was never polled",
        )
        every = listed(api, "/v1/batches")["data"]
        assert [b["batch_id"] for b in every] == batch_ids
        assert {b["provider"] for b in every} == {"openai"}

        def of(conn: dict[str, Any] | None, status: str | None) -> list[str]:
            return [
                batch_id
                for batch_id, (c, s) in zip(batch_ids, plan, strict=True)
                if (conn is None or c is conn) and (status is None or s == status)
            ]

        done = pages(api, "/v1/batches", 2, status="completed")
        assert [len(page) for page in done] == [2, 2, 1]
        assert [i for page in done for i in page] == of(None, "completed")
        assert pages(api, "/v1/batches", 1, status="in_progress") == [
            [i] for i in of(None, "in_progress")
        ]
        mine = pages(api, "/v1/batches", 2, status="completed", connection_id=first["id"])
        assert [i for page in mine for i in page] == of(first, "completed")
        assert pages(api, "/v1/batches", 1, connection_id=second["id"]) == [
            [i] for i in of(second, None)
        ]
        shown = listed(api, "/v1/batches", connection_id=second["id"])["data"]
        assert {(b["connection_id"], b["provider"]) for b in shown} == {(second["id"], "openai")}
        assert pages(api, "/v1/batches", 3, status="failed") == [[]]
        with stack.client() as other:  # another tenant's connection lists nothing here
            theirs = connect(other, stub)
        for unknown in ("conn_missing", theirs["id"]):
            assert pages(api, "/v1/batches", 3, connection_id=unknown) == [[]]


@pytest.mark.parametrize("status", ["done", "COMPLETED", "unknown", ""])
def test_a_batch_status_filter_not_of_the_eight_is_422(api: httpx.Client, status: str) -> None:
    answer = api.get("/v1/batches", params={"status": status})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert "status" in answer.json()["error"]["message"]


def ids_of(api: httpx.Client) -> dict[str, list[str]]:
    return {
        path: [item[name] for item in listed(api, path)["data"]] for path, name in LISTS.items()
    }


def test_a_starting_after_not_in_the_callers_list_is_404_and_changes_nothing(
    stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-pages-unknown") as stub:
        with stack.client() as other:  # another tenant's real objects are unknown here
            make_five(other, "/v1/events", stub, receiver)
            their_batch = new_batch_id()
            stub.set_batch(their_batch, "in_progress")
            watch(other, their_batch, connect(other, stub)["id"], poll_interval=3600)
            theirs = ids_of(other)
        make_five(api, "/v1/events", stub, receiver)
        connect(api, stub)
        before = ids_of(api)
        unknown = {
            "/v1/connections": ["conn_missing", theirs["/v1/connections"][0]],
            "/v1/endpoints": ["ep_missing", theirs["/v1/endpoints"][0]],
            "/v1/batches": [new_batch_id(), their_batch],
            "/v1/events": ["evt_missing", theirs["/v1/events"][0]],
        }
        for path, cursors in unknown.items():
            for cursor in cursors:
                answer = api.get(path, params={"starting_after": cursor, "limit": 2})
                assert answer.status_code == 404, (path, answer.text)
                error = answer.json()["error"]
                assert error["type"] == "not_found"
                assert cursor in error["message"]
        assert ids_of(api) == before


@pytest.mark.parametrize("path", sorted(LISTS))
@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 1001}, {"limit": "ten"}])
def test_a_limit_outside_1_to_1000_is_422(
    api: httpx.Client, path: str, query: dict[str, Any]
) -> None:
    answer = api.get(path, params=query)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert "limit" in answer.json()["error"]["message"]
