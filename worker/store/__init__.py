"""The only package that talks to Redis.

``Store`` joins the account, watch and event operations over one client; every step
that must happen once (registration, claiming due work, recording a poll, recording an
attempt) is a Lua script in ``worker/lua``, called through its typed wrapper in
``scripts``. Every public operation raises ``worker.errors.StoreUnavailable`` when
Redis fails, never redis-py's exceptions.
"""

from __future__ import annotations

from worker.keys import Keyspace
from worker.redis_target import redis_target
from worker.settings import Settings
from worker.store import durability
from worker.store.accounts import new_id
from worker.store.base import ClaimAt, DueWork
from worker.store.connection import client_for, redis_client
from worker.store.events import DeliveryJob, EventsMixin, new_delivery_jobs
from worker.store.limits import LimitsMixin
from worker.store.metrics import Backlog, Histogram, MetricsMixin
from worker.store.scripts import (
    Allowance,
    AttemptDone,
    AttemptRecorded,
    PollOutcome,
    Scripts,
    WatchRegistration,
)
from worker.store.tokens import TokenInfo, TokensMixin
from worker.vault import Vault

__all__ = [
    "Allowance",
    "AttemptDone",
    "AttemptRecorded",
    "Backlog",
    "ClaimAt",
    "DeliveryJob",
    "DueWork",
    "Histogram",
    "PollOutcome",
    "Scripts",
    "Store",
    "TokenInfo",
    "WatchRegistration",
    "new_delivery_jobs",
    "new_id",
    "open_store",
    "redis_client",
]


class Store(EventsMixin, TokensMixin, LimitsMixin, MetricsMixin):
    """Every Redis operation batchhook performs (events and deliveries build on
    subscribers, accounts and watches; ``store.scripts`` holds the Lua scripts)."""

    def wait_for_replicas(self, replicas: int, timeout_s: float) -> int:
        return durability.wait_for_replicas(self.redis, replicas, timeout_s)


def open_store(settings: Settings, *, socket_timeout_s: float | None = None) -> Store:
    return Store(
        client_for(redis_target(settings), socket_timeout_s),
        Vault(settings.secret_key),
        retention_s=settings.retention_s,
        delivery_lease_s=settings.delivery_lease_s,
        keyspace=Keyspace(settings.partitions, tagged=settings.redis_cluster),
    )
