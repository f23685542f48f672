from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import Stack
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Name a test marked ``announce`` as it starts, before its fixtures: a case that
    runs for a minute then shows on the terminal instead of one silent dot."""
    marker = item.get_closest_marker("announce")
    plugins = item.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if marker is None or reporter is None or capture is None:
        return
    label = marker.args[0] if marker.args else "slow test"
    with capture.global_and_fixture_disabled():  # past pytest's capture, to the terminal
        reporter.ensure_newline()
        reporter.write_line(f"{label}: {item.name.removeprefix('test_').replace('_', ' ')} ...")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One shared stack; tests isolate themselves with a tenant each."""
    shared = Stack(redis_server.url, tmp_path_factory.mktemp("stack-logs"))
    try:
        yield shared.start()
    finally:
        shared.stop()


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[tuple[Stack, RedisServer]]:
    """A private Redis and stack, for tests that kill or duplicate processes."""
    with RedisServer() as server:
        private = Stack(server.url, tmp_path)
        try:
            yield private, server
        finally:
            private.stop()


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as hook:
        yield hook
