"""What ``batchhook dev`` keeps in ``.batchhook/`` of the directory it runs in.

- ``secret_key``: the key that encrypts stored credentials, made on the first start;
- ``redis/``: the embedded Redis's append-only data, when no Redis answered;
- ``dev.json``: while ``batchhook dev`` runs, the Redis it uses and its API, so that the
  ``batchhook`` command run beside it (``status``, ``tokens``) reads the same Redis
  instead of ``localhost:6379``. The embedded Redis gets a new port each start.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from worker.records import frozen

STATE_DIR = Path(".batchhook")
RECORD_NAME = "dev.json"


@frozen
class DevRecord:
    """The Redis and API of a running ``batchhook dev``."""

    redis_url: str
    api_url: str
    pid: int

    @property
    def running(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, but another user's
            return True
        return True


def secret_key(state_dir: Path = STATE_DIR) -> str:
    """The dev secret key, made (readable by this user only) on the first start."""
    path = state_dir / "secret_key"
    if not path.exists():
        state_dir.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def write_record(record: DevRecord, state_dir: Path = STATE_DIR) -> Path:
    """Record the running dev stack (the Redis URL may hold a password: owner-only)."""
    state_dir.mkdir(exist_ok=True)
    path = state_dir / RECORD_NAME
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(record)))
    partial.chmod(0o600)
    partial.replace(path)
    return path


def read_record(state_dir: Path = STATE_DIR) -> DevRecord | None:
    """The recorded dev stack, or None when there is none (or it cannot be read)."""
    try:
        raw = json.loads((state_dir / RECORD_NAME).read_text())
        return DevRecord(str(raw["redis_url"]), str(raw["api_url"]), int(raw["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def clear_record(pid: int, state_dir: Path = STATE_DIR) -> None:
    """Remove the record if this process wrote it (a newer dev may have replaced it)."""
    record = read_record(state_dir)
    if record is not None and record.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            (state_dir / RECORD_NAME).unlink()


def shown_url(url: str) -> str:
    """The URL with any password replaced by ``***``, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))
