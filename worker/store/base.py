"""The Redis connection, the Lua scripts and small codecs shared by the store modules."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from worker import keys
from worker.models import NewEvent
from worker.vault import Vault


def _lua(name: str, *, with_events: bool = False) -> str:
    folder = resources.files("worker") / "lua"
    body = (folder / f"{name}.lua").read_text()
    if with_events:
        body = (folder / "_events.lua").read_text() + "\n" + body
    return body


def run_scripts(client: redis.Redis, calls: list[tuple[Script, list[Any]]]) -> list[Any]:
    """Run many Lua script calls (ARGV only) in one round trip and return their answers.

    redis-py's pipelines ask ``SCRIPT EXISTS`` before every execute that holds a script:
    a second round trip each time. Here the calls go straight out as EVALSHA; the ones
    that find their script missing (Redis restarted or flushed) ran nothing, so they are
    run again after loading it. Any other error is raised, as a pipeline would."""
    pipe = client.pipeline(transaction=False)
    for script, args in calls:
        pipe.evalsha(script.sha, 0, *args)
    answers: list[Any] = pipe.execute(raise_on_error=False)
    missing = [i for i, a in enumerate(answers) if isinstance(a, NoScriptError)]
    if missing:
        again = client.pipeline(transaction=False)
        for i in missing:
            script, args = calls[i]
            script(args=args, client=again)
        for i, answer in zip(missing, again.execute(), strict=True):
            answers[i] = answer
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer
    return answers


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads_or(raw: str | None, default: Any) -> Any:
    return json.loads(raw) if raw else default


def float_or_none(raw: str | None) -> float | None:
    return float(raw) if raw not in (None, "") else None


def event_argv(event: NewEvent, *, retention_s: int, lease_until: float) -> list[str | float]:
    return [
        event.id,
        event.tenant,
        event.watch_id,
        event.batch_id,
        event.type,
        event.created_at,
        event.body,
        dumps(list(event.endpoint_ids)),
        retention_s,
        lease_until,
    ]


class StoreBase:
    """Holds the client and registered scripts; the mixins add the operations."""

    def __init__(
        self,
        client: redis.Redis,
        vault: Vault,
        *,
        retention_s: int = 30 * 86400,
        delivery_lease_s: float = 60.0,
    ) -> None:
        # redis-py's annotations cannot express decode_responses=True (every answer is
        # typed bytes | str), so the client is handled as Any inside the store.
        self.redis: Any = client
        self.vault = vault
        self.retention_s = retention_s
        self.delivery_lease_s = delivery_lease_s
        self.prefix = keys.PREFIX
        self._claim_due = client.register_script(_lua("claim_due"))
        self._register_watch = client.register_script(_lua("register_watch"))
        self._record_poll = client.register_script(_lua("record_poll", with_events=True))
        self._record_poll_error = client.register_script(
            _lua("record_poll_error", with_events=True)
        )
        self._create_event = client.register_script(_lua("create_event", with_events=True))
        self._record_attempt = client.register_script(_lua("record_attempt"))
        self._take_call_budget = client.register_script(_lua("take_call_budget"))
        self._pause_connection = client.register_script(_lua("pause_connection"))
        self._defer_poll = client.register_script(_lua("defer_poll"))
        self._sweep_finished = client.register_script(_lua("sweep_finished"))

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    def claim(self, schedule_key: str, *, now: float, lease_until: float, limit: int) -> list[str]:
        """Atomically take due members of a schedule (``keys.DUE`` or ``keys.OUTBOX``)."""
        ids = self._claim_due(keys=[schedule_key], args=[now, lease_until, limit])
        return [str(i) for i in ids]

    def stats(self) -> dict[str, int]:
        raw = self.redis.hgetall(keys.STATS)
        counters = {str(k): int(v) for k, v in raw.items()}
        counters["watched_batches"] = int(self.redis.zcard(keys.DUE))
        counters["pending_deliveries"] = int(self.redis.zcard(keys.OUTBOX))
        return counters
