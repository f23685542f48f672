"""Every Redis key batchhook uses, in one place.

Every key name is built here, by a constant or a function: the Lua scripts in
``worker/lua`` are given each key they touch as ``KEYS`` (``worker/store/scripts.py``
builds the lists), so a later change can hash-tag these names for Redis Cluster
without touching a script. batchhook still needs a single Redis today.
"""

from __future__ import annotations

import hashlib

PREFIX = "bh:"

TENANTS = f"{PREFIX}tenants"
DUE = f"{PREFIX}due"  # zset: watch id -> Unix time of its next poll
OUTBOX = f"{PREFIX}outbox"  # zset: delivery id -> Unix time of its next attempt
STATS = f"{PREFIX}stats"  # hash of monotonically increasing counters
DISCOVER = f"{PREFIX}discover"  # zset: watch_all connection id -> Unix time of its next list
REPLICATION_MARK = f"{PREFIX}replication_mark"  # counter written before each WAIT
FINISHED = f"{PREFIX}finished"  # zset: finished_member() -> when its retention ends

# The broker's queues: kombu keeps each as a Redis list under the queue's name.
POLL_QUEUE = "batchhook.poll"
DELIVER_QUEUE = "batchhook.deliver"
TICK_QUEUE = "batchhook.tick"
QUEUES = (TICK_QUEUE, DELIVER_QUEUE, POLL_QUEUE)


def histogram(name: str) -> str:
    """Hash: per-bucket counts (field = bucket index), ``sum`` and ``count``."""
    return f"{PREFIX}hist:{name}"


def token(token_hash: str) -> str:
    """String: the tenant. Keyed by the token's digest; the token itself is never kept."""
    return f"{PREFIX}token:{token_hash}"


def token_last_used(token_hash: str) -> str:
    """String: Unix time of the token's last request, refreshed at most once a minute."""
    return f"{token(token_hash)}:used"


def token_calls(token_hash: str, window: int) -> str:
    """Counter: the token's requests in one clock minute (``window`` = Unix time // 60)."""
    return f"{token(token_hash)}:calls:{window}"


def token_hash(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


TOKENS = f"{PREFIX}tokens"  # zset: token id -> created_at (the records `tokens list` shows)


def token_record(token_id: str) -> str:
    """Hash: id, tenant, hash (the digest, never the token), hint, created_at."""
    return f"{PREFIX}tokenrec:{token_id}"


def connection(connection_id: str) -> str:
    return f"{PREFIX}conn:{connection_id}"


def connection_paused_until(connection_id: str) -> str:
    """String: Unix time until which every poll of the connection waits (after a 429)."""
    return f"{connection(connection_id)}:paused_until"


def connection_calls(connection_id: str, second: int) -> str:
    """Counter: the connection's provider calls in one clock second (expires in 5 s)."""
    return f"{connection(connection_id)}:calls:{second}"


def tenant_connections(tenant: str) -> str:
    return f"{PREFIX}tenant:{tenant}:conns"


def tenant_unwatched(tenant: str) -> str:
    """Batch ids a tenant stopped watching, scored by when: account discovery does not
    bring them back within the retention (a sorted set, trimmed as it grows)."""
    return f"{PREFIX}tenant:{tenant}:unwatched_at"


def tenant_unwatched_untimed(tenant: str) -> str:
    """The same, as kept before it had times (a set): still read, no longer written."""
    return f"{PREFIX}tenant:{tenant}:unwatched"


def endpoint(endpoint_id: str) -> str:
    return f"{PREFIX}ep:{endpoint_id}"


def tenant_endpoints(tenant: str) -> str:
    return f"{PREFIX}tenant:{tenant}:eps"


def watch_id(tenant: str, batch_id: str) -> str:
    digest = hashlib.sha256(f"{tenant}\x00{batch_id}".encode()).hexdigest()
    return f"wat_{digest[:32]}"


def watch(wid: str) -> str:
    return f"{PREFIX}watch:{wid}"


def watch_history(wid: str) -> str:
    return f"{PREFIX}watch:{wid}:history"


def watch_events(wid: str) -> str:
    return f"{PREFIX}watch:{wid}:events"


def tenant_watches(tenant: str) -> str:
    return f"{PREFIX}tenant:{tenant}:watches"


def finished_member(wid: str, tenant: str) -> str:
    """A stopped watch's member of ``FINISHED`` (a value, not a key): "<watch id> <tenant>"."""
    return f"{wid} {tenant}"


def parse_finished_member(member: str) -> tuple[str, str] | None:
    """(watch id, tenant) of a ``FINISHED`` member, None when it is malformed."""
    wid, sep, tenant = member.partition(" ")
    return (wid, tenant) if sep and wid and tenant else None


def event(event_id: str) -> str:
    return f"{PREFIX}event:{event_id}"


def tenant_events(tenant: str) -> str:
    return f"{PREFIX}tenant:{tenant}:events"


def delivery_id(event_id: str, endpoint_id: str) -> str:
    """Also built in ``_events.lua`` (a value there, not a key name): keep them alike."""
    return f"{event_id}:{endpoint_id}"


def split_delivery_id(did: str) -> tuple[str, str]:
    """(event id, endpoint id) of a delivery id."""
    event_id, _, endpoint_id = did.partition(":")
    return event_id, endpoint_id


def delivery(did: str) -> str:
    return f"{PREFIX}delivery:{did}"


def delivery_attempts(did: str) -> str:
    return f"{PREFIX}delivery:{did}:attempts"


# Subscriber operations.
FAILING = f"{PREFIX}failing"  # zset: delivery id -> time of its last failed attempt
FAILING_KEPT = 1000  # the most recent failing deliveries kept for `batchhook status`


def endpoint_health(endpoint_id: str) -> str:
    """Hash: failures (consecutive), failing_since, open_until, probe_until."""
    return f"{PREFIX}ep:{endpoint_id}:health"


def endpoint_failed(endpoint_id: str) -> str:
    """Zset: failed delivery id -> its event's created_at (what recover resends)."""
    return f"{PREFIX}ep:{endpoint_id}:failed"


def endpoint_sent(endpoint_id: str, second: int) -> str:
    """Counter: deliveries let through to the endpoint in one clock second (expires in 5 s)."""
    return f"{PREFIX}ep:{endpoint_id}:sent:{second}"


def recovery(recovery_id: str) -> str:
    return f"{PREFIX}recovery:{recovery_id}"
