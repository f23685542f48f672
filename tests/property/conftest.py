"""A private stack for the property-based runs: generated traffic never meets the e2e tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.stack import Stack
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "property: property-based runs (hypothesis, schemathesis); -m 'not property'"
    )


@pytest.fixture(scope="session")
def property_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """web + worker + beat on a Redis of their own."""
    with RedisServer() as server:
        stack = Stack(server.url, tmp_path_factory.mktemp("property-stack"))
        try:
            yield stack.start()
        finally:
            stack.stop()


@pytest.fixture(scope="session")
def sink() -> Iterator[Receiver]:
    """A loopback receiver answering 200, so the stack's deliveries stay local and end fast."""
    with Receiver() as hook:
        yield hook
