"""The dashboard in a real headless Chromium against the real stack: what an operator sees
and does, from signing in to redelivering and rotating a secret, and what another
tenant does not see. Screenshots go to docs/screenshots/ (tests/support/browser.py)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import standardwebhooks
from playwright.sync_api import Browser, Page, expect

from tests.e2e.flows import connect, new_batch_id, subscribe, watch
from tests.e2e.stack import Stack
from tests.support.browser import chromium, screenshot_path
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until

pytestmark = pytest.mark.announce("browser")

LIVE_S = 20_000  # ms a live change may take: a poll (1 s), a delivery, the page's 3 s refresh
TERMINAL = ["batch.completed", "batch.failed", "batch.expired", "batch.cancelled"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def stub() -> Iterator[ProviderStub]:
    with ProviderStub("openai", api_key="sk-browser") as provider:
        yield provider


@dataclass
class Tenant:
    token: str
    api: httpx.Client
    connection: dict[str, Any]


@pytest.fixture
def tenant(stack: Stack, stub: ProviderStub) -> Iterator[Tenant]:
    token = stack.new_token()
    with stack.client(token) as api:
        yield Tenant(token, api, connect(api, stub))


def counts(done: int, failed: int = 0, total: int = 100) -> dict[str, int]:
    return {"total": total, "completed": done, "failed": failed}


def open_signed_in(browser: Browser, stack: Stack, token: str, path: str, **context: Any) -> Page:
    """A new tab (its own session storage), signed in through the form on ``path``."""
    page = browser.new_context(**context).new_page()
    page.goto(f"{stack.api_url}{path}")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


def row(page: Page, batch_id: str) -> Any:
    return page.locator(f"tr[data-batch-id='{batch_id}']")


def test_an_operator_follows_a_batch_to_its_webhook_and_fixes_a_failing_endpoint(
    browser: Browser, stack: Stack, stub: ProviderStub, tenant: Tenant
) -> None:
    healthy, flaky = Receiver(), Receiver()
    with healthy, flaky:
        subscribe(tenant.api, healthy, description="orders-service", events=TERMINAL)
        # only this batch's completion goes there: the scenery's failed batch would add
        # failures enough to open the endpoint's circuit (5 in a row)
        flaky_ep = subscribe(
            tenant.api, flaky, description="analytics-consumer", events=["batch.completed"]
        )
        flaky.respond_with(*[500] * 12)  # every attempt of the retry schedule fails
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress", request_counts=counts(40, 2))
        watch(tenant.api, batch_id, tenant.connection["id"], metadata={"job": "nightly-eval"})
        _scenery(tenant, stub)

        page = open_signed_in(browser, stack, tenant.token, "/dashboard")
        expect(page).to_have_url(re.compile(r"/dashboard/batches$"))
        badge = row(page, batch_id).locator("[data-status]")
        expect(badge).to_have_text("in_progress", timeout=LIVE_S)
        expect(row(page, batch_id)).to_contain_text("42/100")

        # the batch completes at the provider: the row changes without a reload
        page.evaluate("window.stillTheSamePage = true")
        updated = page.locator("[data-updated]").inner_text()
        stub.set_batch(batch_id, "completed", request_counts=counts(98, 2))
        expect(badge).to_have_text("completed", timeout=LIVE_S)
        assert page.evaluate("window.stillTheSamePage") is True
        assert page.locator("[data-updated]").inner_text() != updated
        page.screenshot(path=screenshot_path("batches"), full_page=True)

        # its page: the status timeline, then the terminal event's deliveries
        row(page, batch_id).get_by_role("link", name=batch_id).click()
        timeline = page.locator("ol.timeline")
        expect(timeline).to_contain_text("in_progress")
        expect(timeline.locator("li").last).to_contain_text("completed")
        timeline.locator("li").last.get_by_role("link").click()
        expect(page.locator("pre.payload")).to_contain_text('"type": "batch.completed"')
        event_id = page.locator("h1").inner_text().strip()
        failing = page.locator(f"article.delivery[data-endpoint-id='{flaky_ep['id']}']")
        expect(failing.locator("[data-delivery-state]")).to_have_text("failed", timeout=LIVE_S)

        # the endpoint is fixed; one click redelivers, and the page shows the new attempt
        flaky.answer_ok_from_now()
        failing.get_by_role("button", name="Redeliver").click()
        expect(failing.locator("[data-delivery-state]")).to_have_text("succeeded", timeout=LIVE_S)
        expect(failing.locator("table.attempts tbody tr").last).to_contain_text("200")
        [redelivered] = flaky.wait_for(1, predicate=lambda r: r.delivered)
        assert redelivered.verified and redelivered.headers["webhook-id"] == event_id
        page.screenshot(path=screenshot_path("event"), full_page=True)

        # on to the endpoint: its health, then a new secret that really signs
        failing.get_by_role("link", name="analytics-consumer").click()
        expect(page.locator("[data-success-rate]")).not_to_have_text("—")
        old_secret = flaky.secret
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Rotate secret").click()
        revealed = page.locator("[data-revealed=secret]")
        expect(revealed).to_have_value(re.compile(r"^whsec_"))
        new_secret = revealed.input_value()
        assert new_secret != old_secret
        stored = page.evaluate("JSON.stringify([localStorage, sessionStorage])")
        assert new_secret not in stored  # shown once, kept nowhere
        page.screenshot(path=screenshot_path("endpoint"), full_page=True)

        page.get_by_role("button", name="Send test event").click()
        [test_hook] = flaky.wait_for(1, predicate=lambda r: r.json["type"] == "webhook.test")
        verified = standardwebhooks.Webhook(new_secret).verify(test_hook.body, test_hook.headers)
        assert verified["data"]["endpoint_id"] == flaky_ep["id"]

        # disable and enable again, each shown live
        state = page.locator("[data-endpoint-state]")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Disable").click()
        expect(state).to_have_text("disabled", timeout=LIVE_S)
        assert tenant.api.get(f"/v1/endpoints/{flaky_ep['id']}").json()["disabled"] is True
        page.get_by_role("button", name="Enable").click()
        expect(state).to_have_text("enabled", timeout=LIVE_S)

        # recover since a time: the form sends Unix seconds of the local time entered
        since = dt.datetime.now() - dt.timedelta(minutes=5)
        page.get_by_label("Resend failed deliveries since").fill(since.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_role("button", name="Recover").click()
        expect(page.locator("#recover ~ output, form:has(#recover) output")).to_contain_text(
            "Recovery queued"
        )


def _scenery(tenant: Tenant, stub: ProviderStub) -> None:
    """A few more batches, so the list (and its screenshot) shows each kind of status."""
    for status, done in (("validating", 0), ("in_progress", 71), ("failed", 0)):
        other = new_batch_id()
        stub.set_batch(other, status, request_counts=counts(done, 3 if done else 0))
        watch(tenant.api, other, tenant.connection["id"])


def test_another_tenant_sees_none_of_it(
    browser: Browser, stack: Stack, stub: ProviderStub, tenant: Tenant, receiver: Receiver
) -> None:
    endpoint = subscribe(tenant.api, receiver)
    batch_id = new_batch_id()
    stub.set_batch(batch_id, "completed", request_counts=counts(100))
    watch(tenant.api, batch_id, tenant.connection["id"])
    [hook] = receiver.wait_for(1)

    page = open_signed_in(browser, stack, stack.new_token(), "/dashboard/batches")
    expect(page.locator("main")).to_contain_text("No batches watched yet")
    for path, theirs in (
        ("/dashboard/events", hook.json["id"]),
        ("/dashboard/endpoints", endpoint["id"]),
        ("/dashboard/connections", tenant.connection["id"]),
    ):
        page.get_by_role("link", name=path.rsplit("/", 1)[-1].capitalize()).click()
        expect(page).to_have_url(re.compile(f"{path}$"))
        assert theirs not in page.content()
    for path in (f"/dashboard/batches/{batch_id}", f"/dashboard/events/{hook.json['id']}"):
        page.goto(f"{stack.api_url}{path}")
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_the_pages_read_without_javascript(
    browser: Browser, stack: Stack, stub: ProviderStub, tenant: Tenant
) -> None:
    batch_id = new_batch_id()
    stub.set_batch(batch_id, "in_progress", request_counts=counts(12))
    watch(tenant.api, batch_id, tenant.connection["id"])

    page = open_signed_in(
        browser, stack, tenant.token, "/dashboard/batches", java_script_enabled=False
    )

    def polled() -> bool:  # no script refreshes the page: reload as a reader would
        page.reload()
        return "in_progress" in row(page, batch_id).inner_text()

    wait_until(polled, timeout_s=20, interval_s=0.5, message="the batch never showed in_progress")
    row(page, batch_id).get_by_role("link", name=batch_id).click()
    expect(page.locator("dl.facts")).to_contain_text("Registered")
    # the buttons need the script and the token: hidden, not broken
    expect(page.locator("form.api-action")).to_have_count(0)


def test_a_wrong_token_is_refused_and_kept_nowhere(browser: Browser, stack: Stack) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{stack.api_url}/dashboard/batches")
    page.get_by_label("API token").fill("bh_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That token is not valid.")
    stored = page.evaluate("JSON.stringify([localStorage, sessionStorage])")
    assert "bh_wrong" not in stored and "batchhook.token" not in stored
    assert page.context.cookies() == []


def test_pages_are_accessible_and_fit_a_phone(
    browser: Browser, stack: Stack, stub: ProviderStub, tenant: Tenant, receiver: Receiver
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    endpoint = subscribe(tenant.api, receiver, description="phone-check")
    batch_id = new_batch_id()
    stub.set_batch(batch_id, "completed", request_counts=counts(100))
    watch(tenant.api, batch_id, tenant.connection["id"])
    [hook] = receiver.wait_for(1)

    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    page = open_signed_in(browser, stack, tenant.token, "/dashboard/batches", **phone)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    paths = [
        "/dashboard/batches",
        f"/dashboard/batches/{batch_id}",
        "/dashboard/events",
        f"/dashboard/events/{hook.json['id']}",
        "/dashboard/endpoints",
        f"/dashboard/endpoints/{endpoint['id']}",
        "/dashboard/connections",
    ]
    for path in paths:
        page.goto(f"{stack.api_url}{path}")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"{path} is {wide}px wider than a phone"
        found = Axe().run(page)
        problems = [
            f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in found.response["violations"]
        ]
        assert not problems, f"{path}: {json.dumps(problems, indent=1)}"
        if path.startswith("/dashboard/batches/"):
            page.screenshot(path=screenshot_path("batch-phone"), full_page=True)


def test_signing_out_forgets_the_token(browser: Browser, stack: Stack, tenant: Tenant) -> None:
    page = open_signed_in(browser, stack, tenant.token, "/dashboard/batches")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    stored = page.evaluate("JSON.stringify([localStorage, sessionStorage])")
    assert tenant.token not in stored and "batchhook.token" not in stored
    page.goto(f"{stack.api_url}/dashboard/endpoints")
    expect(page.get_by_label("API token")).to_be_visible()
