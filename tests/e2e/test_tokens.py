"""API tokens through the real CLI and API: listed without the token, revoked at once,
and held to a request budget per minute."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.stack import TEST_SECRET_KEY, Stack
from tests.e2e.test_api import assert_error
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from worker import keys
from worker.store import Store, redis_client
from worker.vault import Vault

PER_MINUTE = 5


@pytest.fixture(scope="module")
def limited_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Only the web process matters here: tokens are the API's."""
    with RedisServer() as server:
        stack = Stack(
            server.url,
            tmp_path_factory.mktemp("tokens-stack"),
            BATCHHOOK_API_RATE_LIMIT_PER_MIN=str(PER_MINUTE),
        )
        try:
            stack.start_web()
            yield stack
        finally:
            stack.stop()


@pytest.fixture
def store(limited_stack: Stack) -> Iterator[Store]:
    """The stack's own Redis, through the store (for clocks the API cannot be given)."""
    client = redis_client(limited_stack.env["BATCHHOOK_REDIS_URL"])
    try:
        yield Store(client, Vault(TEST_SECRET_KEY))
    finally:
        client.close()


def create(stack: Stack, tenant: str) -> tuple[str, str]:
    """(id, token) as `batchhook tokens create` prints them."""
    result = stack.cli("tokens", "create", "--tenant", tenant)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    [token_id] = [line.split()[1] for line in lines if line.startswith("id: ")]
    return token_id, lines[-1]


def status_with(stack: Stack, token: str) -> int:
    answer = httpx.get(
        f"{stack.api_url}/v1/endpoints", headers={"authorization": f"Bearer {token}"}
    )
    return answer.status_code


def test_tokens_list_shows_ids_and_hints_never_tokens(limited_stack: Stack) -> None:
    token_id, token = create(limited_stack, "listing")
    assert status_with(limited_stack, token) == 200

    listed = limited_stack.cli("tokens", "list", "--tenant", "listing")
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if line.startswith(token_id)]
    assert f"...{token[-4:]}" in row and "listing" in row
    assert row.split()[-1] != "-", "the use just made is not shown"
    assert token not in listed.stdout
    assert "bh_" not in listed.stdout


@pytest.mark.parametrize("by", ["id", "token"])
def test_a_revoked_token_is_refused_at_once(limited_stack: Stack, by: str) -> None:
    token_id, token = create(limited_stack, f"revoke-by-{by}")
    kept_id, kept = create(limited_stack, f"revoke-by-{by}")
    assert status_with(limited_stack, token) == 200

    revoked = limited_stack.cli("tokens", "revoke", token_id if by == "id" else token)
    assert revoked.returncode == 0, revoked.stderr
    assert token_id in revoked.stdout and token not in revoked.stdout

    assert status_with(limited_stack, token) == 401
    assert status_with(limited_stack, kept) == 200
    listed = limited_stack.cli("tokens", "list").stdout
    assert token_id not in listed and kept_id in listed


def test_revoking_an_unknown_token_says_so_and_fails(limited_stack: Stack) -> None:
    for unknown in ("tok_0000000000000000", "bh_never-issued"):
        result = limited_stack.cli("tokens", "revoke", unknown)
        assert result.returncode != 0
        assert "no such token" in result.stderr
        assert unknown not in result.stderr


def test_a_token_over_its_budget_gets_429_with_retry_after(limited_stack: Stack) -> None:
    _, busy = create(limited_stack, "budget")
    _, other = create(limited_stack, "budget")
    # Budgets renew each clock minute: start the burst well inside one.
    wait_until(lambda: time.time() % 60 < 50, timeout_s=15)
    answers = [
        httpx.get(
            f"{limited_stack.api_url}/v1/batches", headers={"authorization": f"Bearer {busy}"}
        )
        for _ in range(PER_MINUTE + 1)
    ]
    codes = [a.status_code for a in answers]
    assert codes == [200] * PER_MINUTE + [429], codes
    refused = answers[-1]
    assert_error(refused, 429)
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert status_with(limited_stack, other) == 200, "one token's budget is not another's"


def test_a_token_made_before_ids_still_works_and_can_be_revoked(
    limited_stack: Stack, store: Store
) -> None:
    old = "bh_made-before-token-records-existed"
    store.redis.set(store.keys.token(keys.token_hash(old)), "old-tenant")
    assert status_with(limited_stack, old) == 200

    revoked = limited_stack.cli("tokens", "revoke", old)
    assert revoked.returncode == 0, revoked.stderr
    assert old not in revoked.stdout
    assert status_with(limited_stack, old) == 401


# The store itself, on the stack's Redis, with a clock of the test's choosing.
MINUTE_START = 60.0 * 20_000_000  # the first second of a clock minute


def test_the_budget_renews_at_the_next_clock_minute(store: Store) -> None:
    token = store.create_token("clocked")
    at = MINUTE_START + 45.5
    for _ in range(3):
        assert store.authenticate(token, per_minute=3, now=at).retry_after_s == 0

    assert store.authenticate(token, per_minute=3, now=at).retry_after_s == 15
    assert store.authenticate(token, per_minute=3, now=MINUTE_START + 59.9).retry_after_s == 1
    renewed = store.authenticate(token, per_minute=3, now=MINUTE_START + 60)
    assert (renewed.tenant, renewed.retry_after_s) == ("clocked", 0)


def test_last_use_is_written_at_most_once_a_minute(store: Store) -> None:
    token_id, token = store.create_token_with_id("last-used")

    def last_used() -> float | None:
        [info] = [t for t in store.list_tokens("last-used") if t.id == token_id]
        return info.last_used_at

    assert last_used() is None
    store.authenticate(token, per_minute=0, now=MINUTE_START + 10)
    store.authenticate(token, per_minute=0, now=MINUTE_START + 69)
    assert last_used() == MINUTE_START + 10
    store.authenticate(token, per_minute=0, now=MINUTE_START + 70)
    assert last_used() == MINUTE_START + 70


def test_an_unknown_token_is_refused_and_writes_nothing(store: Store) -> None:
    before = sorted(store.redis.keys("*"))
    found = store.authenticate("bh_never-issued", per_minute=1, now=MINUTE_START)
    assert (found.tenant, found.retry_after_s) == (None, 0)
    assert sorted(store.redis.keys("*")) == before
