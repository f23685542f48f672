"""Which Redis the `batchhook` command reads: configured, a running dev's, or the default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker import devstate
from worker.commands import cli_redis_url
from worker.settings import Settings


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no config/batchhook.toml here: the defaults
    monkeypatch.delenv("BATCHHOOK_REDIS_URL", raising=False)
    monkeypatch.delenv("BATCHHOOK_CONFIG", raising=False)
    return tmp_path


def a_pid_no_longer_running() -> int:
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    probe.wait()
    return probe.pid


def test_a_running_dev_s_redis_is_read_when_none_is_configured(in_tmp: Path) -> None:
    devstate.write_record(devstate.DevRecord("redis://127.0.0.1:41234/0", "http://x", os.getpid()))

    url, source = cli_redis_url(Settings())

    assert url == "redis://127.0.0.1:41234/0"
    assert "batchhook dev" in source and ".batchhook/dev.json" in source


def test_a_configured_redis_wins_over_dev_s(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    devstate.write_record(devstate.DevRecord("redis://127.0.0.1:41234/0", "http://x", os.getpid()))
    monkeypatch.setenv("BATCHHOOK_REDIS_URL", "redis://10.0.0.5:6379/2")

    url, source = cli_redis_url(Settings())

    assert url == "redis://10.0.0.5:6379/2"
    assert "BATCHHOOK_REDIS_URL" in source


def test_the_record_of_a_dev_no_longer_running_is_ignored(in_tmp: Path) -> None:
    record = devstate.DevRecord("redis://127.0.0.1:41234/0", "http://x", a_pid_no_longer_running())
    devstate.write_record(record)

    url, source = cli_redis_url(Settings())

    assert url == "redis://localhost:6379/0"
    assert "no batchhook dev here" in source


def test_the_record_is_readable_by_its_owner_only_and_a_password_is_not_shown(
    in_tmp: Path,
) -> None:
    url = "redis://:hunter2@127.0.0.1:41234/0"
    path = devstate.write_record(devstate.DevRecord(url, "http://x", os.getpid()))

    assert path.stat().st_mode & 0o077 == 0
    assert "hunter2" not in devstate.shown_url(url)
    assert devstate.shown_url(url) == "redis://:***@127.0.0.1:41234/0"


def test_a_dev_stopping_removes_only_its_own_record(in_tmp: Path) -> None:
    devstate.write_record(devstate.DevRecord("redis://127.0.0.1:1/0", "http://x", os.getpid()))

    devstate.clear_record(os.getpid() + 1)  # another dev stopping
    assert devstate.read_record() is not None
    devstate.clear_record(os.getpid())
    assert devstate.read_record() is None
