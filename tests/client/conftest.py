"""The client against a real batchhook: the e2e suite's stack (web, worker, beat on a
private Redis) and a provider stand-in; a tenant of its own for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from batchhook_client import Client, Connection

from tests.e2e.conftest import (  # noqa: F401 - pytest finds the e2e fixtures by name here
    receiver,
    redis_server,
    stack,
)
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub


@pytest.fixture(scope="session")
def token(stack: Stack) -> str:  # noqa: F811 - the fixture imported above
    """One tenant for the session (a token costs a CLI run); tests isolate by their ids."""
    return stack.new_token()


@pytest.fixture
def client(stack: Stack, token: str) -> Iterator[Client]:  # noqa: F811
    with Client(stack.api_url, token, timeout=10) as api_client:
        yield api_client


@pytest.fixture(scope="session")
def provider() -> Iterator[ProviderStub]:
    with ProviderStub("openai", api_key="sk-client-tests-key") as stub:
        yield stub


@pytest.fixture(scope="session")
def connection(stack: Stack, token: str, provider: ProviderStub) -> Connection:  # noqa: F811
    with Client(stack.api_url, token) as api_client:
        return api_client.connections.create(
            provider="openai", api_key=provider.api_key, base_url=provider.base_url
        )
