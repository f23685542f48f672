"""The Redis connection, the Lua scripts and small codecs shared by the store modules."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

import redis

from worker import jsoncodec, keys
from worker.errors import ConfigError, NotFound
from worker.keys import Keyspace
from worker.records import frozen
from worker.store.client import REDIS_ERRORS, Client, Guarded, Pipeline, typed
from worker.store.scripts import Claim, Scripts, dumps, float_or_none
from worker.vault import Vault

__all__ = ["NextDue", "Page", "StoreBase", "dumps", "float_or_none", "loads_or", "page_of"]

PLAIN = Keyspace()  # one Redis, one partition: the keys' plain names
T = TypeVar("T")


def loads_or(raw: str | None, default: Any) -> Any:
    return jsoncodec.loads(raw) if raw else default


@frozen
class NextDue:
    """What falls due next, for beat: see ``StoreBase.next_due``."""

    other_at: float | None  # the earliest delivery, listing or sweep
    poll_at: float | None  # the earliest poll
    polls_by_horizon: int  # polls due by the horizon asked about
    # when a chunk's worth of polls is due (None: never, as things stand); with several
    # partitions, the earliest poll's time: a chunk's worth may be due from then on
    chunk_at: float | None


class ClaimAt(NamedTuple):
    """Claim what is due by ``now``, leased until ``lease_until``."""

    now: float
    lease_until: float


class DueWork(NamedTuple):
    """What one tick claimed (``StoreBase.claim_due_work``)."""

    polls: list[str]
    deliveries: list[str]
    discoveries: list[str]


def queue_beat_wake(pipe: Pipeline) -> None:
    """Queue on ``pipe`` the wake of a beat waiting for something to fall due (see
    ``StoreBase.wake_beat``): a write can carry it in its own round trip."""
    pipe.lpush(keys.BEAT_WAKE, 1)
    pipe.ltrim(keys.BEAT_WAKE, 0, 0)  # one wake is as good as many


def _first_score(rows: list[tuple[str, float]]) -> float | None:
    return float(rows[0][1]) if rows else None


@frozen
class Page(Generic[T]):
    """One page of a list, and whether items follow it."""

    data: list[T]
    has_more: bool


def page_of(
    ids: Sequence[str],
    *,
    starting_after: str | None,
    limit: int,
    load: Callable[[list[str]], list[T]],
    what: str,
    shown_as: str | None = None,
) -> Page[T]:
    """The ``limit`` items after ``starting_after`` in ``ids`` (ordered as listed).

    ``load`` turns a run of ids into the items still there (an id whose object expired,
    or that a filter leaves out, gives none); it is called on runs just long enough to
    fill the page and tell whether more follow, never on the ids before the cursor. An
    unknown cursor is ``NotFound``, named as the caller gave it (``shown_as``)."""
    start = 0
    if starting_after is not None:
        try:
            start = ids.index(starting_after) + 1
        except ValueError:
            named = shown_as or starting_after
            raise NotFound(f"starting_after: no {what} {named!r} in this list") from None
    found: list[T] = []
    run = limit + 1
    while start < len(ids) and len(found) <= limit:
        found += load(list(ids[start : start + run]))
        start += run
        run = min(run * 2, 1000)
    return Page(found[:limit], has_more=len(found) > limit)


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
        keyspace: Keyspace = PLAIN,
    ) -> None:
        self.redis: Client = typed(client)
        self.keys = keyspace
        self.vault = vault
        self.retention_s = retention_s
        self.delivery_lease_s = delivery_lease_s
        self.scripts = Scripts(self.redis, keyspace)

    def check(self) -> None:
        """Raise ``StoreUnavailable`` unless Redis answers."""
        self.redis.ping()

    def check_layout(self) -> None:
        """Raise ``ConfigError`` when Redis holds data written with another partition
        count: this one would not find it (the first process to start records its own)."""
        wanted = str(self.keys.partitions)
        self.redis.set(keys.LAYOUT, wanted, nx=True)
        found = self.redis.get(keys.LAYOUT)
        if found != wanted:
            raise ConfigError(
                f"this Redis holds batchhook data written with {found} partitions, not "
                f"{wanted}: set BATCHHOOK_REDIS_PARTITIONS={found} (the count is fixed for a "
                "deployment's life)"
            )

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except REDIS_ERRORS:
            return False

    def close(self) -> None:
        self.redis.close()

    def claim_polls(self, *, now: float, lease_until: float, limit: int) -> list[str]:
        """Atomically take up to ``limit`` due watches, an equal share from each partition."""
        [polls] = self.scripts.claim_due_groups([self._poll_claim(now, lease_until, limit)])
        return polls

    def claim_deliveries(self, *, now: float, lease_until: float, limit: int) -> list[str]:
        """Atomically take up to ``limit`` due deliveries, an equal share from each outbox."""
        [deliveries] = self.scripts.claim_due_groups(
            [self._delivery_claim(now, lease_until, limit)]
        )
        return deliveries

    def claim_due_work(self, polls: ClaimAt, deliveries: ClaimAt, limit: int) -> DueWork:
        """``claim_polls``, ``claim_deliveries`` and ``claim_discoveries`` (the listings
        leased as the polls are), each up to ``limit``, in one round trip: a tick's claims."""
        claimed = self.scripts.claim_due_groups(
            [
                self._poll_claim(polls.now, polls.lease_until, limit),
                self._delivery_claim(deliveries.now, deliveries.lease_until, limit),
                Claim([keys.DISCOVER], deliveries.now, polls.lease_until, limit),
            ]
        )
        return DueWork(*claimed)

    def _poll_claim(self, now: float, lease_until: float, limit: int) -> Claim:
        schedules = [self.keys.due(p) for p in self.keys.all_partitions()]
        return Claim(schedules, now, lease_until, -(-limit // len(schedules)))

    def _delivery_claim(self, now: float, lease_until: float, limit: int) -> Claim:
        outboxes = [self.keys.outbox(p) for p in self.keys.all_partitions()]
        return Claim(outboxes, now, lease_until, -(-limit // len(outboxes)))

    def next_due(self, horizon: float, chunk_size: int) -> NextDue:
        """When the tick next has something to claim: the earliest poll, and the earliest
        delivery (a lease that runs out counts, its score is the lease's end), listing or
        sweep of finished watches; how many polls fall due by ``horizon``, and when
        ``chunk_size`` polls will have (one round trip)."""
        others = [keys.DISCOVER]
        for p in self.keys.all_partitions():
            others += [self.keys.outbox(p), self.keys.finished(p)]
        dues = [self.keys.due(p) for p in self.keys.all_partitions()]
        pipe = self.redis.pipeline(transaction=False)
        for key in [*others, *dues]:  # one key a command: a Cluster pipeline's rule
            pipe.zrange(key, 0, 0, withscores=True)
        for key in dues:
            pipe.zcount(key, "-inf", horizon)
        if len(dues) == 1:  # across partitions the chunk-th poll is not one command away
            pipe.zrange(dues[0], chunk_size - 1, chunk_size - 1, withscores=True)
        answers = pipe.execute()
        split, counted = len(others), len(others) + len(dues)
        firsts = [_first_score(rows) for rows in answers[:counted]]
        poll_at = min((f for f in firsts[split:] if f is not None), default=None)
        return NextDue(
            other_at=min((f for f in firsts[:split] if f is not None), default=None),
            poll_at=poll_at,
            polls_by_horizon=sum(int(n) for n in answers[counted : counted + len(dues)]),
            chunk_at=_first_score(answers[-1]) if len(dues) == 1 else poll_at,
        )

    def wake_beat(self) -> None:
        """Tell a beat waiting for something to fall due to read the schedules again (see
        ``worker.beat``): after a write that may have made something due sooner."""
        pipe = self.redis.pipeline(transaction=False)
        queue_beat_wake(pipe)
        pipe.execute()

    def wait_for_wake(self, timeout_s: float) -> None:
        """Block until ``wake_beat`` is called (or was, since the last wait), at most
        ``timeout_s``."""
        self.redis.blpop([keys.BEAT_WAKE], timeout=timeout_s)

    def claim_discoveries(self, *, now: float, lease_until: float, limit: int) -> list[str]:
        """Atomically take watch_all connections due for a listing."""
        return self.scripts.claim_due(
            [keys.DISCOVER], now=now, lease_until=lease_until, limit=limit
        )

    def merged(
        self, indexes: list[str], *, newest_first: bool = False, limit: int = 0
    ) -> list[tuple[str, float]]:
        """(member, score) of sorted sets (one index's share in each partition), in score
        order, the first ``limit`` (0: all) in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for index in indexes:
            if newest_first:
                pipe.zrevrange(index, 0, limit - 1, withscores=True)
            else:
                pipe.zrange(index, 0, limit - 1, withscores=True)
        sign = -1.0 if newest_first else 1.0
        merged = heapq.merge(*pipe.execute(), key=lambda pair: sign * float(pair[1]))
        return [(str(m), float(s)) for m, s in itertools.islice(merged, limit or None)]

    def merged_index(self, indexes: list[str], *, newest_first: bool = False) -> list[str]:
        """Every member of sorted sets (one index's share in each partition), in score order."""
        return [member for member, _ in self.merged(indexes, newest_first=newest_first)]

    def stats(self) -> dict[str, int]:
        """The counters summed over the partitions, and the sizes of the schedules."""
        pipe = self.redis.pipeline(transaction=False)
        for p in self.keys.all_partitions():
            pipe.hgetall(self.keys.stats(p))
            pipe.zcard(self.keys.due(p))
            pipe.zcard(self.keys.outbox(p))
        answers = pipe.execute()
        counters: dict[str, int] = {"watched_batches": 0, "pending_deliveries": 0}
        for raw, due, pending in zip(answers[0::3], answers[1::3], answers[2::3], strict=True):
            for name, value in raw.items():
                counters[str(name)] = counters.get(str(name), 0) + int(value)
            counters["watched_batches"] += int(due)
            counters["pending_deliveries"] += int(pending)
        return counters
