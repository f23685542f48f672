"""What batchhook measures, independent of where it is kept: histogram buckets and names.

Workers add to counters and histograms held in Redis (``store.metrics``), so one scrape of
the web process's ``/metrics`` shows the work of every worker on every host.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable

from worker.records import frozen

# How late a poll started after its due time (beat tick, queueing, chunk concurrency).
SCHEDULE_LAG = "schedule_lag_seconds"
# How long one delivery attempt took, request to answer (or to the timeout / error).
ATTEMPT_LATENCY = "delivery_attempt_seconds"

BUCKETS: dict[str, tuple[float, ...]] = {
    SCHEDULE_LAG: (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300),
    ATTEMPT_LATENCY: (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
}


@frozen
class Observations:
    """Values of one histogram, folded into per-bucket counts before they go to Redis."""

    buckets: Counter[int]  # index into BUCKETS[name]; len(BUCKETS[name]) is +Inf
    total: float
    count: int


def fold(name: str, values: Iterable[float]) -> Observations:
    bounds = BUCKETS[name]
    buckets: Counter[int] = Counter()
    total, count = 0.0, 0
    for value in values:
        buckets[bisect.bisect_left(bounds, value)] += 1
        total += value
        count += 1
    return Observations(buckets, total, count)


def cumulative(name: str, counts: dict[int, int]) -> list[tuple[str, int]]:
    """Prometheus' cumulative ``le`` buckets from per-bucket counts."""
    bounds = [*(repr(float(b)) for b in BUCKETS[name]), "+Inf"]
    running, out = 0, []
    for index, bound in enumerate(bounds):
        running += counts.get(index, 0)
        out.append((bound, running))
    return out
