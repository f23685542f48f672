"""The dashboard's pages as a browser without JavaScript gets them: signed in with the form
(a session cookie), scoped to the token's tenant, escaped, and locked down by headers.
The browser tests (test_dashboard_browser.py) drive the same pages with JavaScript."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.flows import connect, new_batch_id, subscribe, watch
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until


@pytest.fixture
def stub() -> Iterator[ProviderStub]:
    with ProviderStub("openai", api_key="sk-dashboard") as provider:
        yield provider


def browser(stack: Stack) -> httpx.Client:
    """A client like a browser with JavaScript off: no token header, keeps cookies."""
    return httpx.Client(base_url=stack.api_url, timeout=10, follow_redirects=False)


def sign_in(
    page: httpx.Client, token: str, next_path: str = "/dashboard/batches"
) -> httpx.Response:
    return page.post(
        "/dashboard/signin",
        data={"token": token, "next": next_path},
        headers={"origin": str(page.base_url).rstrip("/")},
    )


def test_a_page_asked_for_without_a_token_is_the_sign_in_form(stack: Stack) -> None:
    with browser(stack) as page:
        answer = page.get("/dashboard/batches")
    assert answer.status_code == 200
    assert 'name="token"' in answer.text
    assert 'data-resume="/dashboard/batches"' in answer.text  # the script reloads it with a token
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_signing_in_without_javascript_reads_the_tenants_batches(
    stack: Stack, api: httpx.Client, stub: ProviderStub
) -> None:
    conn = connect(api, stub)
    batch_id = new_batch_id()
    stub.script(
        batch_id,
        ["in_progress", "completed"],
        request_counts={"total": 10, "completed": 10, "failed": 0},
    )
    watch(api, batch_id, conn["id"])
    token = api.headers["authorization"].removeprefix("Bearer ")

    with browser(stack) as page:
        signed = sign_in(page, token)
        assert signed.status_code == 303
        assert signed.headers["location"] == "/dashboard/batches"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie
        assert token not in signed.headers["set-cookie"]  # a session id, not the token

        def listed() -> str | None:
            text = page.get("/dashboard/batches").text
            return text if "completed</span>" in text else None

        text = wait_until(listed, timeout_s=20, message="the batch never showed as completed")
        assert batch_id in text and "10/10" in text
        detail = page.get(f"/dashboard/batches/{batch_id}")
        assert detail.status_code == 200
        assert "Status history" in detail.text and "batch.completed" in detail.text
        # reading only: the cookie does not open the API, whose calls need the token
        assert page.get("/v1/batches").status_code == 401


def test_a_wrong_token_is_refused_and_sets_nothing(stack: Stack) -> None:
    with browser(stack) as page:
        answer = sign_in(page, "bh_not-a-real-token")
        assert answer.status_code == 401
        assert "not valid" in answer.text
        assert "set-cookie" not in answer.headers
        assert 'name="token"' in page.get("/dashboard/batches").text


def test_a_sign_in_posted_from_another_site_is_refused(stack: Stack) -> None:
    token = stack.new_token()
    with browser(stack) as page:
        answer = page.post(
            "/dashboard/signin", data={"token": token}, headers={"origin": "https://evil.example"}
        )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


def test_after_signing_in_it_goes_only_to_a_dashboard_page(stack: Stack) -> None:
    token = stack.new_token()
    with browser(stack) as page:
        for elsewhere in ("https://evil.example/", "//evil.example", "/dashboard/../v1/batches"):
            answer = sign_in(page, token, next_path=elsewhere)
            assert answer.headers["location"] == "/dashboard/batches"
        assert sign_in(page, token, "/dashboard/events").headers["location"] == "/dashboard/events"


def test_revoking_the_token_ends_its_dashboard_sessions(stack: Stack) -> None:
    token = stack.new_token()
    with browser(stack) as page:
        assert sign_in(page, token).status_code == 303
        assert "Sign out" in page.get("/dashboard/endpoints").text
        assert stack.cli("tokens", "revoke", token).returncode == 0
        assert 'name="token"' in page.get("/dashboard/endpoints").text


def test_signing_out_ends_the_session(stack: Stack) -> None:
    with browser(stack) as page:
        sign_in(page, stack.new_token())
        session = page.cookies["bh_dashboard"]
        out = page.post("/dashboard/signout", headers={"origin": str(page.base_url).rstrip("/")})
        assert out.status_code == 303
        page.cookies.set("bh_dashboard", session, path="/dashboard")  # replayed: dead
        assert 'name="token"' in page.get("/dashboard/batches").text


def test_another_tenants_objects_are_not_found(
    stack: Stack, api: httpx.Client, stub: ProviderStub, receiver: Receiver
) -> None:
    conn = connect(api, stub)
    endpoint = subscribe(api, receiver)
    batch_id = new_batch_id()
    stub.script(batch_id, ["completed"])
    watch(api, batch_id, conn["id"])
    [hook] = receiver.wait_for(1)
    event_id = hook.json["id"]

    other = {"authorization": f"Bearer {stack.new_token()}"}
    with httpx.Client(base_url=stack.api_url, headers=other, timeout=10) as page:
        for path in (
            f"/dashboard/batches/{batch_id}",
            f"/dashboard/events/{event_id}",
            f"/dashboard/endpoints/{endpoint['id']}",
        ):
            answer = page.get(path)
            assert answer.status_code == 404, path
            assert conn["id"] not in answer.text and receiver.url not in answer.text
        for listing in (
            "/dashboard/batches",
            "/dashboard/events",
            "/dashboard/endpoints",
            "/dashboard/connections",
        ):
            text = page.get(listing).text
            for theirs in (batch_id, event_id, endpoint["id"], conn["id"]):
                assert theirs not in text, (listing, theirs)


def test_what_the_provider_and_callers_wrote_is_shown_escaped(
    stack: Stack, api: httpx.Client, stub: ProviderStub
) -> None:
    conn = connect(api, stub)
    batch_id = new_batch_id()
    stub.script(batch_id, ["in_progress"])
    watch(api, batch_id, conn["id"], metadata={"note": "<img src=x onerror=alert(1)>"})
    page = httpx.Client(base_url=stack.api_url, headers=api.headers, timeout=10)
    with page:
        text = page.get(f"/dashboard/batches/{batch_id}").text
    assert "<img src=x" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text or "\\u003cimg" in text


def test_a_page_of_an_unknown_object_says_not_found(api: httpx.Client) -> None:
    answer = api.get("/dashboard/events/evt_nothing_here")
    assert answer.status_code == 404
    assert "Not found" in answer.text and "evt_nothing_here" in answer.text
