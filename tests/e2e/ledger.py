"""A cohort of batches walked through their statuses, and the ledger of what must arrive.

The cohort moves each batch to its next status only once batchhook has seen the current
one (``GET /v1/batches``), so every status change is one batchhook can observe. The
ledger then holds batchhook to its promise: every change reaches every endpoint (answered
2xx at least once), under one ``webhook-id``, and no id ever stands for two changes.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.flows import connect, events_of, new_batch_id
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until

EVERY_BATCH_EVENT = [
    f"batch.{s}"
    for s in (
        "validating",
        "in_progress",
        "finalizing",
        "cancelling",
        "completed",
        "failed",
        "expired",
        "cancelled",
    )
]
PATHS = (
    ("validating", "in_progress", "finalizing", "completed"),
    ("validating", "in_progress", "finalizing", "completed"),
    ("validating", "failed"),
    ("validating", "in_progress", "expired"),
    ("validating", "in_progress", "cancelling", "cancelled"),
)
Change = tuple[str, str]  # (batch id, event type)


class Cohort:
    """``size`` batches of one new tenant, watched at a 1 s interval, with ``endpoints``
    receivers subscribed to every batch event."""

    def __init__(
        self,
        api: httpx.Client,
        size: int,
        *,
        endpoints: int = 3,
        seed: int = 0,
        redis_url: str | None = None,
    ) -> None:
        self.api = api
        self.redis_url = redis_url  # only to describe what is stuck when a check fails
        self._exit = ExitStack()
        self.stub = self._exit.enter_context(ProviderStub("openai", api_key=f"sk-cohort-{seed}"))
        self.receivers = [self._exit.enter_context(Receiver()) for _ in range(endpoints)]
        rng = random.Random(seed)
        self.paths = {new_batch_id(): rng.choice(PATHS) for _ in range(size)}
        self.step = dict.fromkeys(self.paths, 0)

    def __enter__(self) -> Cohort:
        for receiver in self.receivers:
            response = self.api.post(
                "/v1/endpoints", json={"url": receiver.url, "events": EVERY_BATCH_EVENT}
            )
            assert response.status_code == 201, response.text
            receiver.secret = response.json()["secret"]
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def start(self) -> None:
        connection_id = connect(self.api, self.stub)["id"]
        for batch_id, path in self.paths.items():
            self.stub.set_batch(batch_id, path[0])
            body = {"batch_id": batch_id, "connection_id": connection_id, "poll_interval": 1}
            response = self.api.post("/v1/batches", json=body)
            assert response.status_code == 201, response.text

    # --- walking the batches --------------------------------------------------------------

    def advance(self) -> bool:
        """Move on every batch whose current status batchhook has seen; True when every
        batch has reached its last status and batchhook has seen it."""
        seen = self._seen()
        if seen is None:  # e.g. 503 while Redis is down
            return False
        finished = True
        for batch_id, path in self.paths.items():
            step = self.step[batch_id]
            if seen.get(batch_id) == path[step] and step + 1 < len(path):
                self.step[batch_id] = step + 1
                self.stub.set_batch(batch_id, path[step + 1])
            finished = finished and seen.get(batch_id) == path[-1]
        return finished

    def _seen(self) -> dict[str, str | None] | None:
        """Every watched batch's last-seen status, over all the list's pages."""
        seen: dict[str, str | None] = {}
        params: dict[str, str | int] = {"limit": 1000}
        while True:
            response = self.api.get("/v1/batches", params=params)
            if response.status_code != 200:
                return None
            page = response.json()
            seen.update((b["batch_id"], b["status"]) for b in page["data"])
            if not page["has_more"]:
                return seen
            params["starting_after"] = page["data"][-1]["batch_id"]

    def progress(self) -> int:
        """Status changes made so far (each batch's first status counts as one)."""
        return sum(step + 1 for step in self.step.values())

    def drive_until(self, condition: Callable[[], bool], timeout_s: float = 60) -> None:
        """Keep the batches moving until ``condition`` holds (e.g. work is in flight)."""
        wait_until(
            lambda: (self.advance() or True) and condition(),
            timeout_s=timeout_s,
            interval_s=0.05,
            message="the condition to inject a fault at never came",
        )

    def run_to_the_end(self, timeout_s: float = 120) -> None:
        wait_until(self.advance, timeout_s=timeout_s, interval_s=0.2, message=self._where())

    def _where(self) -> str:
        behind = [b for b, p in self.paths.items() if self.step[b] + 1 < len(p)]
        return f"{len(behind)} of {len(self.paths)} batches never reached their last status"

    # --- the ledger ---------------------------------------------------------------------

    def expected(self) -> set[Change]:
        return {(b, f"batch.{s}") for b, path in self.paths.items() for s in path}

    def made_so_far(self) -> set[Change]:
        """The changes the batches have made up to their current status."""
        return {
            (b, f"batch.{s}") for b, path in self.paths.items() for s in path[: self.step[b] + 1]
        }

    def missing(self, changes: set[Change] | None = None) -> dict[int, set[Change]]:
        """Per receiver, the changes (default: all of them) it has not accepted yet."""
        wanted = self.expected() if changes is None else changes
        gaps = {}
        for index, receiver in enumerate(self.receivers):
            accepted = {_change_of(r.json) for r in receiver.delivered()}
            gaps[index] = wanted - accepted
        return {i: gap for i, gap in gaps.items() if gap}

    def assert_nothing_lost_or_doubled(
        self, timeout_s: float = 120, *, every_event_stored: bool = True
    ) -> None:
        """``every_event_stored=False`` where Redis itself lost events that it had sent
        (restored from an older snapshot): what it still holds must then agree with what
        was received, id for id, but may lack those."""
        try:
            wait_until(lambda: not self.missing(), timeout_s=timeout_s, interval_s=0.2)
        except TimeoutError:
            gaps = {i: sorted(gap)[:5] for i, gap in self.missing().items()}
            raise AssertionError(f"events lost (receiver: first missing): {gaps}") from None
        ids_of: dict[Change, set[str]] = defaultdict(set)
        changes_of: dict[str, set[Change]] = defaultdict(set)
        for receiver in self.receivers:
            for received in list(receiver.received):
                assert received.verified, received.verify_error
                change = _change_of(received.json)
                ids_of[change].add(received.headers["webhook-id"])
                changes_of[received.headers["webhook-id"]].add(change)
        doubled = {c: ids for c, ids in ids_of.items() if len(ids) > 1}
        assert not doubled, f"a status change was given two webhook-ids: {doubled}"
        assert all(len(c) == 1 for c in changes_of.values()), "an id stood for two changes"
        assert set(ids_of) == self.expected(), set(ids_of) ^ self.expected()
        if every_event_stored:
            self._assert_stored_events_match()
        else:
            self._assert_stored_events_were_received(ids_of)
        try:
            wait_until(lambda: self._outbox_depth() == 0, timeout_s=60)
        except TimeoutError:
            raise AssertionError(f"outbox not drained: {self._stuck_deliveries()}") from None

    def _stuck_deliveries(self) -> list[Any]:
        if self.redis_url is None:
            return []
        client = redis.Redis.from_url(self.redis_url, decode_responses=True)
        try:
            stuck = client.zrange("bh:outbox", 0, 9, withscores=True)
            return [(did, at - time.time(), client.hgetall(f"bh:delivery:{did}"))
                    for did, at in stuck]  # fmt: skip
        finally:
            client.close()

    def _outbox_depth(self) -> float:
        """Deliveries still waiting for an attempt, as /metrics reports them."""
        for family in text_string_to_metric_families(self.api.get("/metrics").text):
            if family.name == "batchhook_outbox_depth":
                return float(family.samples[0].value)
        raise AssertionError("/metrics has no batchhook_outbox_depth")

    def _assert_stored_events_match(self) -> None:
        """The API's record agrees: exactly one event per change, no more."""
        for batch_id, path in self.paths.items():
            types = sorted(e["type"] for e in events_of(self.api, batch_id))
            assert types == sorted(f"batch.{s}" for s in path), (batch_id, types)

    def _assert_stored_events_were_received(self, ids_of: dict[Change, set[str]]) -> None:
        """Each event the API still has is a change that arrived, under the same id."""
        for batch_id in self.paths:
            for event in events_of(self.api, batch_id):
                assert ids_of.get((batch_id, event["type"])) == {event["id"]}, event["id"]


def _change_of(body: Any) -> Change:
    return (body["data"]["id"], body["type"])
