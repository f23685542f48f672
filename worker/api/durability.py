"""API writes are answered only once they are on ``BATCHHOOK_REDIS_WAIT_REPLICAS`` replicas.

With replicas, a write acknowledged by the primary alone is lost when the primary dies
before passing it on and a replica is promoted. Waiting for one replica closes that gap
for registrations, endpoints and connections (at the cost of one round trip to the
replica). When the replicas do not confirm in time the answer is ``503``: the write was
made on the primary but may not survive a failover, so the caller should check and retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from worker.api.errors import error_response
from worker.errors import StoreUnavailable
from worker.store import Store

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class WaitForReplicas:
    """An HTTP middleware: after a successful write, ``WAIT`` for the replicas."""

    def __init__(self, store: Store, replicas: int, timeout_s: float) -> None:
        self.store = store
        self.replicas = replicas
        self.timeout_s = timeout_s

    async def __call__(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.method not in WRITE_METHODS or not 200 <= response.status_code < 300:
            return response
        try:
            acknowledged = await run_in_threadpool(
                self.store.wait_for_replicas, self.replicas, self.timeout_s
            )
        except StoreUnavailable:  # raised out here, past the app's own 503 handler
            acknowledged = 0
        if acknowledged >= self.replicas:
            return response
        message = (
            f"the change was made but only {acknowledged} of {self.replicas} Redis replicas "
            f"confirmed it within {self.timeout_s:g} s; it may be lost in a failover: "
            "check it and retry"
        )
        return error_response(503, "service_unavailable", message, {"retry-after": "5"})
