"""The Redis connection, the Lua scripts and small codecs shared by the store modules."""

from __future__ import annotations

import json
from typing import Any

import redis

from worker import keys
from worker.store.client import Client, Guarded, typed
from worker.store.scripts import Scripts, dumps, float_or_none
from worker.vault import Vault

__all__ = ["StoreBase", "dumps", "float_or_none", "loads_or"]


def loads_or(raw: str | None, default: Any) -> Any:
    return json.loads(raw) if raw else default


class StoreBase(Guarded):
    """Holds the client and the scripts; the mixins add the operations. Every public
    method raises ``StoreUnavailable`` when Redis fails (see ``client.Guarded``)."""

    def __init__(
        self,
        client: redis.Redis,
        vault: Vault,
        *,
        retention_s: int = 30 * 86400,
        delivery_lease_s: float = 60.0,
    ) -> None:
        self.redis: Client = typed(client)
        self.vault = vault
        self.retention_s = retention_s
        self.delivery_lease_s = delivery_lease_s
        self.scripts = Scripts(self.redis)

    def check(self) -> None:
        """Raise ``StoreUnavailable`` unless Redis answers."""
        self.redis.ping()

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self.redis.close()

    def claim(self, schedule_key: str, *, now: float, lease_until: float, limit: int) -> list[str]:
        """Atomically take due members of a schedule (``keys.DUE`` or ``keys.OUTBOX``)."""
        return self.scripts.claim_due(schedule_key, now=now, lease_until=lease_until, limit=limit)

    def stats(self) -> dict[str, int]:
        raw = self.redis.hgetall(keys.STATS)
        counters = {str(k): int(v) for k, v in raw.items()}
        counters["watched_batches"] = int(self.redis.zcard(keys.DUE))
        counters["pending_deliveries"] = int(self.redis.zcard(keys.OUTBOX))
        return counters
