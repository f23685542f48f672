"""kombu's Redis transports, without the timer that woke an idle worker every second.

kombu 5.6 added a timer to the worker's event loop that runs once a second to keep the
binding tables of *expiring* queues alive (``maybe_refresh_binding_expiry``, interval
hard-coded). batchhook's queues never expire (Celery declares them without ``x-expires``),
so each run returns at once, but it still wakes the loop, which then fires its timers,
re-arms its readers and checks for a shutdown: about three quarters of an idle worker's
wake-ups. These transports cancel that timer once kombu has registered it; every other
timer (unacknowledged-message restore, health checks, re-authentication) stays.
``worker.broker`` selects them for ``redis://``, ``rediss://`` and ``sentinel://`` URLs.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis


def cancel_binding_expiry_timer(cycle: Any) -> None:
    """Cancel the once-a-second refresh of expiring queues' bindings (a no-op for
    queues without an expiry); kombu versions without it are left as they are."""
    timer_entry = getattr(cycle, "_binding_expiry_tref", None)
    if timer_entry is not None:
        timer_entry.cancel()


class RedisTransport(kombu_redis.Transport):
    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        super().register_with_event_loop(connection, loop)  # type: ignore[no-untyped-call]
        cancel_binding_expiry_timer(self.cycle)


class SentinelTransport(kombu_redis.SentinelTransport):
    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        super().register_with_event_loop(connection, loop)  # type: ignore[no-untyped-call]
        cancel_binding_expiry_timer(self.cycle)
