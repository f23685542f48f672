"""``batchhook dev``: Redis (embedded when none answers), the API, a worker and beat."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from worker import embedded_redis
from worker.demo import DemoReceiver, SimulatedProvider
from worker.settings import Settings, environ_snapshot
from worker.store import open_store

STATE_DIR = Path(".batchhook")


def _dev_secret_key() -> str:
    path = STATE_DIR / "secret_key"
    if not path.exists():
        STATE_DIR.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _environment(port: int | None, demo: bool) -> dict[str, str]:
    env = environ_snapshot()
    env["BATCHHOOK_DEV"] = "1"
    env.setdefault("BATCHHOOK_LOG_FORMAT", "console")
    env.setdefault("BATCHHOOK_SECRET_KEY", _dev_secret_key())
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


def run_dev(*, port: int | None, demo: bool, exit_after_demo: bool) -> int:
    env = _environment(port, demo)
    settings = Settings()
    redis_process = None
    if not embedded_redis.reachable(settings.redis_url):
        redis_process, url = embedded_redis.start(STATE_DIR / "redis")
        env["BATCHHOOK_REDIS_URL"] = url
        print(f"batchhook dev: no Redis at {settings.redis_url}; started one at {url}")
    redis_url = env.get("BATCHHOOK_REDIS_URL", settings.redis_url)
    web_port = int(env.get("PORT", "8000"))
    api_url = f"http://127.0.0.1:{web_port}"
    commands = (["web"], ["worker", "--concurrency", "2"], ["beat"])
    children = [
        subprocess.Popen([sys.executable, "-m", "worker.cli", *argv], env=env)  # noqa: S603
        for argv in commands
    ]
    try:
        _wait_ready(api_url, children)
        store = open_store(
            Settings(redis_url=redis_url, secret_key=env["BATCHHOOK_SECRET_KEY"], dev=True)
        )
        token = store.create_token("dev")
        print(f"\nbatchhook dev is running\n  API:   {api_url}\n  token: {token}\n", flush=True)
        if demo:
            ok = run_demo(api_url, token)
            if exit_after_demo:
                return 0 if ok else 1
        return _wait_for_signal(children)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


def _wait_for_signal(children: list[subprocess.Popen[bytes]]) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if any(c.poll() is not None for c in children):
                print("batchhook dev: a process exited; stopping", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    return 0


def run_demo(api_url: str, token: str) -> bool:
    """Register a simulated batch and show its verified webhook arriving."""
    arrived = threading.Event()

    def on_webhook(event: dict[str, Any], verified: bool) -> None:
        data = event.get("data", {})
        mark = "verified" if verified else "SIGNATURE INVALID"
        print(
            f"demo: webhook {event.get('type')} ({mark}) batch {data.get('id')} "
            f"{data.get('previous_status')} -> {data.get('status')}, "
            f"output_file_id={data.get('output_file_id')}",
            flush=True,
        )
        if verified and event.get("type") == "batch.completed":
            arrived.set()

    provider = SimulatedProvider()
    receiver = DemoReceiver(on_webhook)
    try:
        with httpx.Client(base_url=api_url, headers={"authorization": f"Bearer {token}"}) as api:
            conn = (
                api.post(
                    "/v1/connections",
                    json={
                        "provider": "openai_compatible",
                        "api_key": "sk-demo",
                        "base_url": provider.base_url,
                    },
                )
                .raise_for_status()
                .json()
            )
            endpoint = (
                api.post("/v1/endpoints", json={"url": receiver.url}).raise_for_status().json()
            )
            receiver.secret = endpoint["secret"]
            batch_id = f"batch_demo_{secrets.token_hex(4)}"
            api.post(
                "/v1/batches",
                json={"batch_id": batch_id, "connection_id": conn["id"], "poll_interval": 1},
            ).raise_for_status()
        print(f"demo: registered {batch_id}; it completes in about 4 s", flush=True)
        ok = arrived.wait(timeout=60)
        print("demo: done" if ok else "demo: no webhook arrived within 60 s", flush=True)
        return ok
    finally:
        provider.stop()
        receiver.stop()
