"""``batchhook dev``: Redis (embedded when none answers), the API, a worker and beat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from worker import devstate, embedded_redis
from worker.demo import run_demo
from worker.settings import Settings, environ_snapshot
from worker.store import open_store


def _environment(port: int | None, demo: bool) -> dict[str, str]:
    env = environ_snapshot()
    env["BATCHHOOK_DEV"] = "1"
    env.setdefault("BATCHHOOK_LOG_FORMAT", "console")
    env.setdefault("BATCHHOOK_SECRET_KEY", devstate.secret_key())
    if port is not None:
        env["PORT"] = str(port)
    if demo:
        env["BATCHHOOK_ALLOW_PRIVATE_DESTINATIONS"] = "1"
    return env


def _wait_ready(api_url: str, children: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(c.poll() is not None for c in children):
            raise SystemExit("batchhook dev: a process exited during start-up (see above)")
        try:
            if httpx.get(f"{api_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("batchhook dev: the API did not become ready")


class _Stopped(Exception):
    """SIGTERM arrived: dev shuts down as cleanly as on Ctrl-C, at whatever step it was."""


def _stop_on_sigterm() -> None:
    def stop(*_: object) -> None:
        raise _Stopped

    signal.signal(signal.SIGTERM, stop)


def run_dev(*, port: int | None, demo: bool, exit_after_demo: bool) -> int:
    """Run Redis, the API, a worker and beat until Ctrl-C or SIGTERM; 0 when stopped so."""
    _stop_on_sigterm()
    try:
        return _run_dev(port=port, demo=demo, exit_after_demo=exit_after_demo)
    except (_Stopped, KeyboardInterrupt):
        return 0


def _run_dev(*, port: int | None, demo: bool, exit_after_demo: bool) -> int:
    env = _environment(port, demo)
    started_redis: list[subprocess.Popen[bytes]] = []  # the embedded one, if dev started it
    children: list[subprocess.Popen[bytes]] = []
    try:
        redis_url = _find_or_start_redis(env, started_redis)
        api_url = f"http://127.0.0.1:{int(env.get('PORT', '8000'))}"
        commands = (["web"], ["worker", "--concurrency", "2"], ["beat"])
        children.extend(
            subprocess.Popen([sys.executable, "-m", "worker.cli", *argv], env=env)  # noqa: S603
            for argv in commands
        )
        _wait_ready(api_url, children)
        store = open_store(
            Settings(redis_url=redis_url, secret_key=env["BATCHHOOK_SECRET_KEY"], dev=True)
        )
        token = store.create_token("dev")
        record = devstate.write_record(devstate.DevRecord(redis_url, api_url, os.getpid()))
        print(_banner(api_url, token, redis_url, record), flush=True)
        if demo:
            ok = run_demo(api_url, store)
            if exit_after_demo:
                return 0 if ok else 1
        return _wait_for_signal(children)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the shutdown runs to its end
        devstate.clear_record(os.getpid())
        _stop(children, started_redis)


def _find_or_start_redis(env: dict[str, str], started: list[subprocess.Popen[bytes]]) -> str:
    """The Redis URL dev uses; a private one in .batchhook/redis when none answers."""
    configured = Settings().redis_url
    if embedded_redis.reachable(configured):
        return env.get("BATCHHOOK_REDIS_URL", configured)
    process, url = embedded_redis.start(devstate.STATE_DIR / "redis")
    started.append(process)
    env["BATCHHOOK_REDIS_URL"] = url
    print(f"batchhook dev: no Redis at {configured}; started one at {url}")
    return url


def _stop(children: list[subprocess.Popen[bytes]], redis: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM the API, worker and beat, wait for each (15 s, then kill), then Redis."""
    for child in children:
        child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    for process in redis:
        process.terminate()
        process.wait(timeout=10)


def _banner(api_url: str, token: str, redis_url: str, record: Path) -> str:
    return (
        "\nbatchhook dev is running\n"
        f"  API:   {api_url}\n"
        f"  token: {token}  (new at each start; earlier ones keep working)\n"
        f"  Redis: {devstate.shown_url(redis_url)}  (`batchhook status` and `batchhook tokens`"
        f" run in this directory read it, from {record})\n"
    )


def _wait_for_signal(children: list[subprocess.Popen[bytes]]) -> int:
    """Watch the children until one exits (1); Ctrl-C or SIGTERM end it from run_dev."""
    while all(c.poll() is None for c in children):
        time.sleep(0.5)
    print("batchhook dev: a process exited; stopping", file=sys.stderr)
    return 1
