"""Bad configuration stops every command with one clear line, naming the variable and
never echoing a value (a Redis URL or key may hold a secret)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support import processes
from worker.settings import Settings

REDIS_PASSWORD = "hunter2-redis-password"


def run_cli(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BATCHHOOK_")}
    redis_url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0"
    return processes.run_cli(*argv, env={**clean, "BATCHHOOK_REDIS_URL": redis_url, **env})


@pytest.mark.parametrize("command", ["status", "worker", "web"])
def test_a_retention_shorter_than_the_retries_is_refused(command: str) -> None:
    result = run_cli(command, BATCHHOOK_RETENTION_S="60", BATCHHOOK_RETRY_SCHEDULE="30,60")
    assert result.returncode == 2
    assert result.stderr.startswith("batchhook: invalid configuration: BATCHHOOK_RETENTION_S")
    assert "retry schedule" in result.stderr
    assert REDIS_PASSWORD not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_value_names_its_variable_without_the_value() -> None:
    result = run_cli("status", BATCHHOOK_TICK_INTERVAL_S="soon")
    assert result.returncode == 2
    assert "BATCHHOOK_TICK_INTERVAL_S: Input should be a valid number" in result.stderr
    assert "soon" not in result.stderr and REDIS_PASSWORD not in result.stderr


def test_the_older_retention_name_is_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHHOOK_RETENTION_S", raising=False)
    monkeypatch.setenv("BATCHHOOK_EVENT_RETENTION_S", "86400")
    monkeypatch.setenv("BATCHHOOK_RETRY_SCHEDULE", "5,300")
    assert Settings().retention_s == 86400


def test_an_unknown_log_level_is_refused_with_the_levels_there_are() -> None:
    result = run_cli("status", BATCHHOOK_LOG_LEVEL="chatty")
    assert result.returncode == 2
    assert "BATCHHOOK_LOG_LEVEL must be one of debug, info, warning, error" in result.stderr
    assert "chatty" not in result.stderr


def test_the_log_level_is_read_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHHOOK_LOG_LEVEL", "DEBUG")
    assert Settings().log_level == "debug"
