"""Provider call budgets shared by every worker: per-second allowance and 429 pauses."""

from __future__ import annotations

from dataclasses import dataclass

from worker.store.base import StoreBase, run_scripts


@dataclass(frozen=True)
class Allowance:
    granted: int
    paused_until: float | None


class LimitsMixin(StoreBase):
    def take_call_budget(
        self, wanted: dict[str, int], *, calls_per_second: int, now: float
    ) -> dict[str, Allowance]:
        """How many of the wanted calls each connection may make now (one round trip)."""
        if not wanted:
            return {}
        pairs = [item for cid, n in sorted(wanted.items()) for item in (cid, n)]
        answer = self._take_call_budget(args=[self.prefix, now, calls_per_second, *pairs])
        allowances: dict[str, Allowance] = {}
        for index, cid in enumerate(sorted(wanted)):
            granted, paused = int(answer[2 * index]), float(answer[2 * index + 1])
            allowances[cid] = Allowance(granted, paused if paused > now else None)
        return allowances

    def pause_connection(self, connection_id: str, *, until: float, now: float) -> bool:
        """Hold every poll of a connection until ``until``; True if the pause grew."""
        return bool(self._pause_connection(args=[self.prefix, connection_id, until, now]))

    def defer_polls(self, next_poll_at: dict[str, float]) -> None:
        run_scripts(
            self.redis,
            [(self._defer_poll, [self.prefix, wid, at]) for wid, at in next_poll_at.items()],
        )
