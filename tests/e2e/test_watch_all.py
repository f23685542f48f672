"""A watch_all connection finds the account's batches itself: no registration call."""

from __future__ import annotations

import time

import httpx

from tests.e2e.flows import connect, new_batch_id, subscribe
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until


def watched_ids(api: httpx.Client) -> set[str]:
    return {b["batch_id"] for b in api.get("/v1/batches").json()["data"] if b["watching"]}


def test_new_batches_of_the_account_are_found_and_notified_without_registration(
    api: httpx.Client, receiver: Receiver
) -> None:
    with ProviderStub("openai", api_key="sk-watch-all") as stub:
        subscribe(api, receiver)
        old_done, running, quick = new_batch_id(), new_batch_id(), new_batch_id()
        stub.set_batch(old_done, "completed", created_at=int(time.time()) - 86400)
        stub.set_batch(running, "in_progress", created_at=int(time.time()) - 600)

        conn = connect(api, stub, watch_all=True)
        assert conn["watch_all"] is True
        stub.set_batch(quick, "completed", created_at=int(time.time()) + 1)

        [first] = receiver.wait_for(1)
        assert first.verified, first.verify_error
        assert first.json["data"]["id"] == quick
        assert first.json["type"] == "batch.completed"
        wait_until(lambda: running in watched_ids(api))

        stub.set_batch(running, "completed", created_at=int(time.time()) - 600)
        hooks = receiver.wait_for(2)
        assert {h.json["data"]["id"] for h in hooks} == {quick, running}
        assert all(h.json["data"]["connection_id"] == conn["id"] for h in hooks)
        assert old_done not in {b["batch_id"] for b in api.get("/v1/batches").json()["data"]}
        assert stub.list_requests, "the provider's list call was never made"
        assert stub.requests_for(running) == [], "the list page should replace retrieves"
        assert stub.mismatches == []


def test_a_batch_the_tenant_stopped_watching_is_not_discovered_again(
    api: httpx.Client,
) -> None:
    with ProviderStub("openai", api_key="sk-watch-all-2") as stub:
        running = new_batch_id()
        stub.set_batch(running, "in_progress", created_at=int(time.time()))
        connect(api, stub, watch_all=True)
        wait_until(lambda: running in watched_ids(api))

        assert api.delete(f"/v1/batches/{running}").status_code == 200
        lists_before = len(stub.list_requests)
        wait_until(lambda: len(stub.list_requests) >= lists_before + 3)

        assert running not in watched_ids(api)


def test_deleting_a_watch_all_connection_stops_its_batches_and_its_listing(
    api: httpx.Client,
) -> None:
    with ProviderStub("openai", api_key="sk-watch-all-3") as stub:
        running = new_batch_id()
        stub.set_batch(running, "in_progress", created_at=int(time.time()))
        conn = connect(api, stub, watch_all=True)
        wait_until(lambda: running in watched_ids(api))

        deleted = api.delete(f"/v1/connections/{conn['id']}")
        assert deleted.status_code == 200, deleted.text

        assert running not in watched_ids(api)
        assert api.get(f"/v1/connections/{conn['id']}").status_code == 404


def test_a_watch_all_connection_shows_when_it_last_listed_the_account(api: httpx.Client) -> None:
    with ProviderStub("openai", api_key="sk-watch-all-4") as stub:
        running = new_batch_id()
        stub.set_batch(running, "in_progress", created_at=int(time.time()))
        one_by_one = connect(api, stub)
        conn = connect(api, stub, watch_all=True)
        assert (conn["last_discovery_at"], conn["last_discovery"]) == (None, None)
        path = f"/v1/connections/{conn['id']}"

        first = wait_until(lambda: (c := api.get(path).json())["last_discovery_at"] and c)
        assert conn["created_at"] <= first["last_discovery_at"] <= time.time()
        assert first["last_discovery"]["at"] == first["last_discovery_at"]
        assert first["last_discovery"]["listed"] >= 1
        wait_until(lambda: running in watched_ids(api))
        lists_before = len(stub.list_requests)
        wait_until(lambda: len(stub.list_requests) >= lists_before + 2)
        later = wait_until(
            lambda: (
                (c := api.get(path).json())["last_discovery_at"] > first["last_discovery_at"] and c
            )
        )
        assert later["last_discovery"]["registered"] == 0  # found already: watched once

        listed = {c["id"]: c for c in api.get("/v1/connections").json()["data"]}
        assert listed[conn["id"]]["last_discovery_at"] >= later["last_discovery_at"]
        assert listed[one_by_one["id"]]["last_discovery_at"] is None
        assert stub.api_key not in api.get("/v1/connections").text
