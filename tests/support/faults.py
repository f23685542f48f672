"""Random faults for the test doubles: which request fails, and how, from a seeded draw."""

from __future__ import annotations

import random
import threading


class Chaos:
    """Each request draws: with probability ``rate`` one of ``kinds``, else nothing."""

    def __init__(self, rate: float, kinds: tuple[str, ...], seed: int = 0) -> None:
        self.rate = rate
        self.kinds = kinds
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.drawn: dict[str, int] = dict.fromkeys(kinds, 0)

    def draw(self) -> str | None:
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            self.drawn[kind] += 1
            return kind

    def slow_delay_s(self) -> float:
        with self._lock:
            return self._rng.uniform(0.2, 1.0)
