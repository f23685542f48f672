"""Counters, histograms and gauges kept in Redis, so one scrape shows every worker's work."""

from __future__ import annotations

import time
from collections.abc import Iterable

from worker import keys, metrics
from worker.records import frozen
from worker.store.base import StoreBase


@frozen
class Histogram:
    buckets: dict[int, int]  # per-bucket counts, index into metrics.BUCKETS[name]
    total: float
    count: int


@frozen
class Backlog:
    """How much work waits: what a scrape reads at the moment it is made."""

    watched_batches: int
    outbox_depth: int  # deliveries pending (due or waiting for their next attempt)
    outbox_due: int  # of which due now
    overdue_s: float  # how long the most overdue poll has been waiting (0: none)
    queues: dict[str, int]  # broker queue -> messages waiting


class MetricsMixin(StoreBase):
    def observe(self, name: str, values: Iterable[float]) -> None:
        folded = metrics.fold(name, values)
        if not folded.count:
            return
        key = keys.histogram(name)
        pipe = self.redis.pipeline(transaction=False)
        for index, count in folded.buckets.items():
            pipe.hincrby(key, str(index), count)
        pipe.hincrbyfloat(key, "sum", folded.total)
        pipe.hincrby(key, "count", folded.count)
        pipe.execute()

    def histogram(self, name: str) -> Histogram:
        raw = self.redis.hgetall(keys.histogram(name))
        buckets = {int(k): int(v) for k, v in raw.items() if k.isdigit()}
        return Histogram(buckets, float(raw.get("sum") or 0.0), int(raw.get("count") or 0))

    def backlog(self, queues: Iterable[str]) -> Backlog:
        """Schedules summed over the partitions, and the broker's queue lengths."""
        now, ks = time.time(), self.keys
        names = list(queues)
        pipe = self.redis.pipeline(transaction=False)
        for p in ks.all_partitions():
            pipe.zcard(ks.due(p))
            pipe.zcard(ks.outbox(p))
            pipe.zcount(ks.outbox(p), "-inf", now)
            pipe.zrange(ks.due(p), 0, 0, withscores=True)
        for name in names:
            pipe.llen(name)
        answers = pipe.execute()
        per_partition, lengths = answers[: 4 * ks.partitions], answers[4 * ks.partitions :]
        soonest = [float(first[0][1]) for first in per_partition[3::4] if first]
        return Backlog(
            watched_batches=sum(int(n) for n in per_partition[0::4]),
            outbox_depth=sum(int(n) for n in per_partition[1::4]),
            outbox_due=sum(int(n) for n in per_partition[2::4]),
            overdue_s=max(0.0, now - min(soonest)) if soonest else 0.0,
            queues={name: int(n) for name, n in zip(names, lengths, strict=True)},
        )
