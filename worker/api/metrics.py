"""``/metrics``: the work of every worker (kept in Redis) and this web process's requests.

Workers keep their counters and histograms in Redis (``store.metrics``), so scraping any
one web process shows polls, transitions and deliveries of all workers; the backlog
(outbox, schedule, broker queues) is read at scrape time. HTTP request counts and
latencies are this web process's own.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker import keys, metrics
from worker.errors import StoreUnavailable
from worker.store import Store

log = structlog.get_logger()

# Counters (``Store.stats``, summed over the partitions) named ``<prefix><label>`` become
# one labelled family each.
LABELLED = (
    ("polls_", "batchhook_polls", "outcome", "polls by outcome (changed, unchanged, retry, ...)"),
    ("transitions_", "batchhook_transitions", "status", "status changes by the status reached"),
    ("attempts_", "batchhook_delivery_attempts", "outcome", "delivery attempts by outcome"),
)
PLAIN = {
    "events_created": "events created (one per status change, test or endpoint.disabled)",
    "poll_errors": "polls that got no batch back (provider error, timeout, refused)",
}
HISTOGRAMS = {
    metrics.SCHEDULE_LAG: "how late each poll started after its due time",
    metrics.ATTEMPT_LATENCY: "delivery attempt duration, request to answer or failure",
}


class StoreCollector:
    """Reads Redis at scrape time; says ``batchhook_redis_up 0`` when it cannot."""

    def __init__(self, store: Store, broker_queues: tuple[str, ...] = keys.QUEUES) -> None:
        self.store = store
        self.broker_queues = broker_queues  # none when the broker is not this Redis

    def collect(self) -> Iterable[Metric]:
        try:
            families = [*self._counters(), *self._histograms(), *self._backlog()]
        except StoreUnavailable as exc:
            log.warning("metrics_redis_unreachable", error=type(exc.__cause__ or exc).__name__)
            yield GaugeMetricFamily("batchhook_redis_up", "Redis answered the scrape", value=0)
            return
        yield GaugeMetricFamily("batchhook_redis_up", "Redis answered the scrape", value=1)
        yield from families

    def _counters(self) -> list[Metric]:
        stats = self.store.stats()
        families: list[Metric] = []
        for prefix, name, label, doc in LABELLED:
            family = CounterMetricFamily(name, doc, labels=[label])
            for key, value in sorted(stats.items()):
                if key.startswith(prefix):
                    family.add_metric([key.removeprefix(prefix)], value)
            families.append(family)
        for key, doc in PLAIN.items():
            families.append(CounterMetricFamily(f"batchhook_{key}", doc, value=stats.get(key, 0)))
        return families

    def _histograms(self) -> list[Metric]:
        families: list[Metric] = []
        for name, doc in HISTOGRAMS.items():
            kept = self.store.histogram(name)
            families.append(
                HistogramMetricFamily(
                    f"batchhook_{name}",
                    doc,
                    buckets=metrics.cumulative(name, kept.buckets),
                    sum_value=kept.total,
                )
            )
        return families

    def _backlog(self) -> list[Metric]:
        backlog = self.store.backlog(self.broker_queues)
        gauges = {
            "watched_batches": (backlog.watched_batches, "batches being polled"),
            "pending_deliveries": (backlog.outbox_depth, "deliveries not yet succeeded or failed"),
            "outbox_depth": (backlog.outbox_depth, "deliveries in the outbox"),
            "outbox_due": (backlog.outbox_due, "outbox deliveries due now"),
            "schedule_overdue_seconds": (backlog.overdue_s, "wait of the most overdue poll"),
        }
        families: list[Metric] = [
            GaugeMetricFamily(f"batchhook_{name}", doc, value=value)
            for name, (value, doc) in gauges.items()
        ]
        queues = GaugeMetricFamily(
            "batchhook_queue_depth", "broker messages waiting", labels=["queue"]
        )
        for queue, depth in backlog.queues.items():
            queues.add_metric([queue], depth)
        families.append(queues)
        return families


class RequestMetrics:
    """This web process's HTTP requests, by route template (not raw path) and status.

    A pure ASGI middleware (Starlette's ``BaseHTTPMiddleware`` runs every request through a
    task group and a memory stream): a request is counted, and its duration taken, when
    its answer starts; one that raises before answering counts as the 500 it gets."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "batchhook_http_requests",
            "API requests answered",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "batchhook_http_request_seconds",
            "API request duration",
            ["method", "route"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = False

        async def send_counted(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                answered = True
                self.record(scope, message["status"], started)
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        except Exception:
            if not answered:
                self.record(scope, 500, started)
            raise

    def record(self, scope: Scope, status: int, started: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        method = scope["method"]
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(time.perf_counter() - started)
