"""`batchhook dev` as a newcomer runs it: no Redis, the demo, then the CLI beside it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.stack import stack_env
from tests.support.processes import ManagedProcess, run_cli
from tests.support.waiting import free_port


def dev_env() -> dict[str, str]:
    """A user's shell: no secret key, and BATCHHOOK_REDIS_URL at a port nothing answers."""
    env = stack_env(f"redis://127.0.0.1:{free_port()}/0", free_port())
    del env["BATCHHOOK_SECRET_KEY"], env["BATCHHOOK_LOG_FORMAT"]
    return env


def cli_beside_dev(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """The batchhook command run in dev's directory, BATCHHOOK_REDIS_URL unset."""
    env = dev_env()
    del env["BATCHHOOK_REDIS_URL"]
    return run_cli(*argv, env=env, cwd=cwd)


def test_dev_demo_runs_everything_without_a_redis_and_shows_a_verified_webhook(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "worker.cli", "dev", "--demo", "--exit-after-demo"],
        cwd=tmp_path,
        env=dev_env(),
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "started one at" in result.stdout  # the embedded Redis
    assert "token: bh_" in result.stdout
    assert "batch.completed (verified)" in result.stdout
    assert "output_file_id=file-" in result.stdout
    assert (tmp_path / ".batchhook" / "redis").is_dir()
    assert not (tmp_path / ".batchhook" / "dev.json").exists()  # gone with dev


def test_the_cli_reads_dev_s_redis_and_the_demo_leaves_nothing_behind(tmp_path: Path) -> None:
    dev = ManagedProcess(
        "dev", [sys.executable, "-m", "worker.cli", "dev", "--demo"], dev_env(), tmp_path, tmp_path
    )
    try:
        dev.wait_for_log(r"demo: done", timeout_s=120)
        output = dev.log_text()
        redis_url = re.search(r"started one at (\S+)", output)
        token = re.search(r"token: (bh_\S+)", output)
        api_url = re.search(r"API:\s+(\S+)", output)
        assert redis_url and token and api_url, output

        status = cli_beside_dev(tmp_path, "status")
        assert status.returncode == 0, status.stderr
        assert redis_url[1] in status.stderr  # it says which Redis it reads: dev's
        assert "batch_demo_" not in status.stdout
        assert "0 pending deliveries" in status.stdout
        assert "0 most recent failing deliveries" in status.stdout

        tokens = cli_beside_dev(tmp_path, "tokens", "list")
        assert tokens.returncode == 0, tokens.stderr
        tenants = [line.split()[1] for line in tokens.stdout.splitlines()[1:]]
        assert tenants == ["dev"]  # the demo's own token was revoked
        assert f"...{token[1][-4:]}" in tokens.stdout

        dev_api = httpx.Client(base_url=api_url[1], headers={"authorization": f"Bearer {token[1]}"})
        with dev_api:
            assert dev_api.get("/v1/endpoints").json()["data"] == []
            assert dev_api.get("/v1/connections").json()["data"] == []
            assert dev_api.get("/v1/batches").json()["data"] == []
    finally:
        dev.kill(signal.SIGTERM)
        dev.popen.wait(timeout=60)
        dev.terminate()

    assert dev.popen.returncode == 0, dev.log_text()[-3000:]
    assert not (tmp_path / ".batchhook" / "dev.json").exists()  # the CLI stops reading it


def test_sigterm_in_the_middle_of_the_demo_stops_dev_cleanly(tmp_path: Path) -> None:
    """`kill PID` (or `docker stop`) mid-demo: the demo undoes its work, dev exits 0."""
    dev = ManagedProcess(
        "dev", [sys.executable, "-m", "worker.cli", "dev", "--demo"], dev_env(), tmp_path, tmp_path
    )
    try:
        dev.wait_for_log(r"demo: registered batch_demo_", timeout_s=120)
        assert (tmp_path / ".batchhook" / "dev.json").exists()
        dev.popen.send_signal(signal.SIGTERM)  # to dev alone: it must stop its children itself
        dev.popen.wait(timeout=60)
    finally:
        dev.terminate()

    output = dev.log_text()
    assert dev.popen.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "demo: done" not in output
    assert not (tmp_path / ".batchhook" / "dev.json").exists()
