"""Provider call budgets shared by every worker: per-second allowance and 429 pauses."""

from __future__ import annotations

from worker.store.base import StoreBase
from worker.store.scripts import Allowance

__all__ = ["Allowance", "LimitsMixin"]


class LimitsMixin(StoreBase):
    def take_call_budget(
        self, wanted: dict[str, int], *, calls_per_second: int, now: float, queue: bool = False
    ) -> dict[str, Allowance]:
        """How many of the wanted calls each connection may make now (one round trip); with
        ``queue``, the claimed calls' places in the connection's queue when any must wait."""
        return self.scripts.take_call_budget(
            wanted, calls_per_second=calls_per_second, now=now, queue=queue
        )

    def pause_connection(self, connection_id: str, *, until: float, now: float) -> bool:
        """Hold every poll of a connection until ``until``; True if the pause grew."""
        return self.scripts.pause_connection(connection_id, until=until, now=now)

    def defer_polls(self, next_poll_at: dict[str, float]) -> None:
        self.scripts.defer_polls(next_poll_at)
