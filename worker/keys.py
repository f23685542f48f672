"""Every Redis key batchhook uses, in one place.

Every key name is built here: the Lua scripts in ``worker/lua`` are given each key they
touch as ``KEYS`` (``worker/store/scripts.py`` builds the lists), so where a key lives is
decided in this one file.

Keys that one script touches together must share a Redis Cluster slot. ``Keyspace``
builds them so:

- One watch, its history and events, the events' deliveries and their attempts live in
  the watch's *partition*, with that partition's due schedule, outbox, stats, finished
  and failing indexes and its share of each tenant's indexes. A watch's partition comes
  from its id (``shard``); the events of a watch carry the same shard in their ids
  (``worker.events``), and a delivery id starts with its event's id.
- One endpoint's hash, health, failed index, throttle counters and attempts per minute
  share the endpoint's slot; one connection's pause, call and discovery records, and one
  token's keys, likewise.

On one server (or Sentinel) with one partition the keys keep their plain names
(``bh:due``, ``bh:watch:<id>``); with several partitions the partition's keys start with
``bh:{<n>}:``, and on a Cluster every endpoint, connection and token id is in braces too
(``bh:ep:{ep_...}:health``), Redis Cluster's hash tag.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

PREFIX = "bh:"
SHARD_HEX = 4  # the hex digits after an id's ``wat_``/``evt_`` that pick its partition
MAX_PARTITIONS = 1024
HEX = frozenset("0123456789abcdef")

# Keys outside any partition: each is one slot of its own, and no script touches two.
TENANTS = f"{PREFIX}tenants"
DISCOVER = f"{PREFIX}discover"  # zset: watch_all connection id -> Unix time of its next list
# list: pushed to after a write that may make something fall due sooner than beat last
# read (a registration, a recorded poll); beat waits on it between reads (worker.beat)
BEAT_WAKE = f"{PREFIX}beat:wake"
REPLICATION_MARK = f"{PREFIX}replication_mark"  # counter written before each WAIT
LAYOUT = f"{PREFIX}layout"  # the partition count the data was written with
TOKENS = f"{PREFIX}tokens"  # zset: token id -> created_at (the records `tokens list` shows)
FAILING_KEPT = 1000  # the most recent failing deliveries kept (per partition) for `status`
ACTIVITY_MINUTES = 180  # the longest window of an endpoint's per-minute attempt counts
# An endpoint's attempt count of one minute is kept this long after its last attempt: the
# whole of the longest window, and a minute of slack for an attempt recorded late.
ENDPOINT_MINUTE_TTL_S = (ACTIVITY_MINUTES + 2) * 60

# The broker's queues: kombu keeps each as a Redis list under the queue's name.
POLL_QUEUE = "batchhook.poll"
DELIVER_QUEUE = "batchhook.deliver"
TICK_QUEUE = "batchhook.tick"
QUEUES = (TICK_QUEUE, DELIVER_QUEUE, POLL_QUEUE)


# Ids and values (not key names) ---------------------------------------------------------
def watch_id(tenant: str, batch_id: str) -> str:
    digest = hashlib.sha256(f"{tenant}\x00{batch_id}".encode()).hexdigest()
    return f"wat_{digest[:32]}"


def shard(any_id: str) -> str:
    """The hex digits of a watch or event id that place it (``evt_`` ids of a watch's
    events repeat their watch's, so an event lives beside its watch). An id not of ours
    (no hex after its prefix) is placed by its digest, the same way every time; a
    delivery id by its event id."""
    own_id = any_id.partition(":")[0]  # a delivery id is placed by its event's
    digits = own_id[4 : 4 + SHARD_HEX]
    if len(digits) == SHARD_HEX and all(c in HEX for c in digits):
        return digits
    return hashlib.sha256(own_id.encode()).hexdigest()[:SHARD_HEX]


def delivery_id(event_id: str, endpoint_id: str) -> str:
    """Also built in ``_events.lua`` (a value there, not a key name): keep them alike."""
    return f"{event_id}:{endpoint_id}"


def split_delivery_id(did: str) -> tuple[str, str]:
    """(event id, endpoint id) of a delivery id."""
    event_id, _, endpoint_id = did.partition(":")
    return event_id, endpoint_id


def finished_member(wid: str, tenant: str) -> str:
    """A stopped watch's member of ``finished`` (a value, not a key): "<watch id> <tenant>"."""
    return f"{wid} {tenant}"


def parse_finished_member(member: str) -> tuple[str, str] | None:
    """(watch id, tenant) of a ``finished`` member, None when it is malformed."""
    wid, sep, tenant = member.partition(" ")
    return (wid, tenant) if sep and wid and tenant else None


def token_hash(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


# Key names outside any partition --------------------------------------------------------
def histogram(name: str) -> str:
    """Hash: per-bucket counts (field = bucket index), ``sum`` and ``count``."""
    return f"{PREFIX}hist:{name}"


def token_record(token_id: str) -> str:
    """Hash: id, tenant, hash (the digest, never the token), hint, created_at."""
    return f"{PREFIX}tokenrec:{token_id}"


def tenant_connections(tenant: str) -> str:
    return f"{PREFIX}tenant:{tenant}:conns"


def tenant_unwatched(tenant: str) -> str:
    """Batch ids a tenant stopped watching, scored by when: account discovery does not
    bring them back within the retention (a sorted set, trimmed as it grows)."""
    return f"{PREFIX}tenant:{tenant}:unwatched_at"


def tenant_unwatched_untimed(tenant: str) -> str:
    """The same, as kept before it had times (a set): still read, no longer written."""
    return f"{PREFIX}tenant:{tenant}:unwatched"


def tenant_endpoints(tenant: str) -> str:
    return f"{PREFIX}tenant:{tenant}:eps"


def recovery(recovery_id: str) -> str:
    return f"{PREFIX}recovery:{recovery_id}"


@dataclass(frozen=True)
class Keyspace:
    """The key names of one deployment: ``partitions`` due schedules, outboxes and the
    indexes beside them, and hash tags when ``tagged`` (a Redis Cluster).

    The partition count is fixed for a deployment's life (``worker.store`` refuses to
    open data written with another): every watch, event and delivery key depends on it."""

    partitions: int = 1
    tagged: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.partitions <= MAX_PARTITIONS:
            raise ValueError(f"partitions must be 1 to {MAX_PARTITIONS}, not {self.partitions}")

    @property
    def plain(self) -> bool:
        """The names of a single Redis with one partition: no braces, no partition."""
        return self.partitions == 1 and not self.tagged

    def all_partitions(self) -> range:
        return range(self.partitions)

    def partition(self, any_id: str) -> int:
        """The partition of a watch, event or delivery id (a delivery's is its event's)."""
        if self.partitions == 1:
            return 0
        return int(shard(any_id), 16) % self.partitions

    def _in(self, p: int) -> str:
        return PREFIX if self.plain else f"{PREFIX}{{{p}}}:"

    def _of(self, any_id: str) -> str:
        return self._in(self.partition(any_id))

    def _tag(self, any_id: str) -> str:
        return f"{{{any_id}}}" if self.tagged else any_id

    # per partition --------------------------------------------------------------
    def due(self, p: int) -> str:
        """Zset: watch id -> Unix time of its next poll."""
        return f"{self._in(p)}due"

    def outbox(self, p: int) -> str:
        """Zset: delivery id -> Unix time of its next attempt."""
        return f"{self._in(p)}outbox"

    def due_of(self, wid: str) -> str:
        """The due schedule of a watch's partition."""
        return self.due(self.partition(wid))

    def outbox_of(self, did: str) -> str:
        """The outbox of a delivery's partition."""
        return self.outbox(self.partition(did))

    def stats(self, p: int) -> str:
        """Hash of monotonically increasing counters (their sum over partitions is shown)."""
        return f"{self._in(p)}stats"

    def finished(self, p: int) -> str:
        """Zset: finished_member() -> when its retention ends."""
        return f"{self._in(p)}finished"

    def failing(self, p: int) -> str:
        """Zset: delivery id -> time of its last failed attempt."""
        return f"{self._in(p)}failing"

    def tenant_watches(self, tenant: str, p: int) -> str:
        return f"{self._in(p)}tenant:{tenant}:watches"

    def tenant_events(self, tenant: str, p: int) -> str:
        return f"{self._in(p)}tenant:{tenant}:events"

    # a watch, its events and their deliveries: in the watch's partition -----------
    def watch(self, wid: str) -> str:
        return f"{self._of(wid)}watch:{wid}"

    def watch_history(self, wid: str) -> str:
        """Where a watch kept its history before it kept it in its hash (read, expired)."""
        return f"{self._of(wid)}watch:{wid}:history"

    def watch_events(self, wid: str) -> str:
        """Where a watch kept its events' ids before it kept them in its hash (likewise)."""
        return f"{self._of(wid)}watch:{wid}:events"

    def event(self, event_id: str) -> str:
        return f"{self._of(event_id)}event:{event_id}"

    def delivery(self, did: str) -> str:
        return f"{self._of(did)}delivery:{did}"

    def delivery_attempts(self, did: str) -> str:
        return f"{self._of(did)}delivery:{did}:attempts"

    # one endpoint, connection or token: in its own slot ---------------------------
    def endpoint(self, endpoint_id: str) -> str:
        return f"{PREFIX}ep:{self._tag(endpoint_id)}"

    def endpoint_health(self, endpoint_id: str) -> str:
        """Hash: failures (consecutive), failing_since, open_until, probe_until."""
        return f"{self.endpoint(endpoint_id)}:health"

    def endpoint_failed(self, endpoint_id: str) -> str:
        """Zset: failed delivery id -> its event's created_at (what recover resends)."""
        return f"{self.endpoint(endpoint_id)}:failed"

    def endpoint_sent(self, endpoint_id: str, second: int) -> str:
        """Counter: deliveries let through to the endpoint in one clock second (5 s TTL)."""
        return f"{self.endpoint(endpoint_id)}:sent:{second}"

    def endpoint_minute(self, endpoint_id: str, minute: int) -> str:
        """Hash: ``ok`` and ``failed``, the attempts made to the endpoint in one clock minute
        (``minute`` = Unix time // 60); kept ``ENDPOINT_MINUTE_TTL_S``."""
        return f"{self.endpoint(endpoint_id)}:att:{minute}"

    def connection(self, connection_id: str) -> str:
        return f"{PREFIX}conn:{self._tag(connection_id)}"

    def connection_paused_until(self, connection_id: str) -> str:
        """String: Unix time until which every poll of the connection waits (after a 429)."""
        return f"{self.connection(connection_id)}:paused_until"

    def connection_pauses(self, connection_id: str) -> str:
        """Hash: ``count`` of the 429 pauses the connection went into, ``last_at`` (Unix
        time the last one began). Goes with the connection."""
        return f"{self.connection(connection_id)}:pauses"

    def connection_discovery(self, connection_id: str) -> str:
        """Hash: the last successful listing of a watch_all connection's account: ``at``,
        ``listed``, ``registered`` (kept for the retention, rewritten every round)."""
        return f"{self.connection(connection_id)}:discovery"

    def connection_queue(self, connection_id: str) -> str:
        """String: the last slot given in the connection's queue of polls waiting for its
        call budget, ``rps`` slots a second (expires a few seconds after it)."""
        return f"{self.connection(connection_id)}:queue"

    def connection_calls(self, connection_id: str, second: int) -> str:
        """Counter: the connection's provider calls in one clock second (expires in 5 s)."""
        return f"{self.connection(connection_id)}:calls:{second}"

    def token(self, digest: str) -> str:
        """String: the tenant. Keyed by the token's digest; the token itself is never kept."""
        return f"{PREFIX}token:{self._tag(digest)}"

    def token_last_used(self, digest: str) -> str:
        """String: Unix time of the token's last request, refreshed at most once a minute."""
        return f"{self.token(digest)}:used"

    def dashboard_session(self, session_digest: str) -> str:
        """String: the token digest a dashboard sign-in without JavaScript stands for, keyed
        by the digest of the session id in its cookie (expires with the session)."""
        return f"{PREFIX}dashsess:{self._tag(session_digest)}"

    def token_calls(self, digest: str, window: int) -> str:
        """Counter: the token's requests in one clock minute (``window`` = Unix time // 60)."""
        return f"{self.token(digest)}:calls:{window}"
