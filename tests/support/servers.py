"""Tests that need a server this machine may lack (RabbitMQ, a TLS-capable redis-server)
skip with the reason on a developer's machine; under CI they fail instead, so a CI run
can never pass without having run them (``.ci/run`` sets the variable below)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_ENV = "BATCHHOOK_TEST_REQUIRE_SERVERS"


def skip_or_fail(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: CI must run this test, not skip it)")
    pytest.skip(reason)
