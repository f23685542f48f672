"""Endpoint health, throttle and recovery: the subscriber-side controls of the outbox."""

from __future__ import annotations

import math
import time
from typing import Any

from worker import keys
from worker.errors import NotFound
from worker.health import Admission
from worker.store.accounts import AccountsMixin, new_id
from worker.store.base import float_or_none, loads_or
from worker.store.client import Pipeline


class SubscribersMixin(AccountsMixin):
    # circuit breaker and throttle ----------------------------------------------
    def admit_deliveries(
        self,
        wanted: dict[str, int],
        *,
        now: float,
        threshold: int,
        default_rate_per_s: int,
        probe_lease_s: float,
    ) -> dict[str, Admission]:
        """How many claimed deliveries each endpoint takes now (one round trip)."""
        return self.scripts.admit_deliveries(
            wanted,
            now=now,
            threshold=threshold,
            default_rate_per_s=default_rate_per_s,
            probe_lease_s=probe_lease_s,
        )

    def defer_deliveries(self, deferred: dict[str, tuple[float, str]]) -> None:
        """Put held-back deliveries back in the outbox for later; no attempt is recorded."""
        pipe = self.redis.pipeline(transaction=False)
        for did, (at, reason) in deferred.items():
            pipe.zadd(self.keys.outbox_of(did), {did: at}, xx=True)
            pipe.hset(self.keys.delivery(did), mapping={"next_attempt_at": at, "deferred": reason})
        pipe.execute()

    def open_circuit(self, endpoint_id: str, *, until: float) -> None:
        hk = self.keys.endpoint_health(endpoint_id)
        pipe = self.redis.pipeline()
        pipe.hset(hk, mapping={"open_until": until, "probe_until": 0})
        pipe.expire(hk, self.retention_s)
        pipe.execute()

    def endpoint_health(self, endpoint_id: str) -> dict[str, float | None]:
        raw = self.redis.hgetall(self.keys.endpoint_health(endpoint_id))
        return {
            "failures": float(raw.get("failures") or 0),
            "failing_since": float_or_none(raw.get("failing_since")),
            "open_until": float(raw.get("open_until") or 0),
        }

    def endpoint_activity(
        self, endpoint_id: str, *, now: float, minutes: int = 60
    ) -> list[dict[str, int]]:
        """The endpoint's attempts per clock minute (refused ones are not attempts), one
        row a minute, oldest first, ending with the minute of ``now`` so far:
        ``minute_at`` (Unix s of its start), ``succeeded`` (2xx) and ``failed`` (any
        other answer, a timeout, no connection). One round trip (the endpoint's slot)."""
        if not 1 <= minutes <= keys.ACTIVITY_MINUTES:
            raise ValueError(f"minutes must be 1 to {keys.ACTIVITY_MINUTES}, not {minutes}")
        last = math.floor(now / 60)
        span = range(last - minutes + 1, last + 1)
        pipe = self.redis.pipeline(transaction=False)
        for minute in span:
            pipe.hmget(self.keys.endpoint_minute(endpoint_id, minute), "ok", "failed")
        return [
            {"minute_at": minute * 60, "succeeded": int(ok or 0), "failed": int(failed or 0)}
            for minute, (ok, failed) in zip(span, pipe.execute(), strict=True)
        ]

    def reset_endpoint_health(self, endpoint_id: str) -> None:
        """Re-enabled: the failure clock and the circuit start afresh."""
        self.redis.delete(self.keys.endpoint_health(endpoint_id))

    def disable_endpoint_once(self, endpoint_id: str, reason: str, *, now: float) -> bool:
        return self.scripts.disable_endpoint_once(endpoint_id, reason, now=now)

    # what `batchhook status` shows ------------------------------------------------
    def failing_deliveries(self, limit: int = 20) -> list[dict[str, Any]]:
        """The most recently failing deliveries (retrying or failed), with their last attempt."""
        failing = [self.keys.failing(p) for p in self.keys.all_partitions()]
        dids = [did for did, _ in self.merged(failing, newest_first=True, limit=limit)]
        pipe = self.redis.pipeline(transaction=False)
        for did in dids:
            pipe.hmget(self.keys.delivery(did), "state", "attempts", "next_attempt_at")
            pipe.lindex(self.keys.delivery_attempts(did), -1)
        answers = pipe.execute()
        rows = []
        for did, (state, attempts, next_at), last in zip(
            dids, answers[0::2], answers[1::2], strict=True
        ):
            if state is None:
                continue
            rows.append(
                {
                    "delivery_id": did,
                    "state": state,
                    "attempts": int(attempts or 0),
                    "next_attempt_at": float_or_none(next_at),
                    "last_attempt": loads_or(last, {}),
                }
            )
        return rows

    # recover ------------------------------------------------------------------------
    def queue_round(
        self, pipe: Pipeline, did: str, event_id: str, endpoint_id: str, now: float
    ) -> None:
        """A fresh round of attempts on a delivery (same event, same webhook-id)."""
        dk = self.keys.delivery(did)
        pipe.hsetnx(dk, "attempts", 0)
        pipe.hset(
            dk,
            mapping={
                "id": did,
                "event_id": event_id,
                "endpoint_id": endpoint_id,
                "state": "pending",
                "round_attempts": 0,
                "next_attempt_at": now,
                "deferred": "",
            },
        )
        pipe.expire(dk, self.retention_s)
        pipe.zadd(self.keys.outbox_of(did), {did: now})
        pipe.zrem(self.keys.endpoint_failed(endpoint_id), did)

    def create_recovery(
        self, tenant: str, endpoint_id: str, *, since: float, until: float
    ) -> dict[str, Any]:
        rid = new_id("rcv")
        fields = {
            "id": rid,
            "tenant": tenant,
            "endpoint_id": endpoint_id,
            "since": since,
            "until": until,
            "status": "queued",
            "created_at": time.time(),
        }
        pipe = self.redis.pipeline()
        pipe.hset(keys.recovery(rid), mapping=fields)
        pipe.expire(keys.recovery(rid), 7 * 86400)
        pipe.execute()
        return self.get_recovery(tenant, rid)

    def get_recovery(self, tenant: str, recovery_id: str) -> dict[str, Any]:
        raw = self.redis.hgetall(keys.recovery(recovery_id))
        if not raw or raw.get("tenant") != tenant:
            raise NotFound(f"no recovery {recovery_id!r}")
        return {
            "id": raw["id"],
            "object": "recovery",
            "endpoint_id": raw["endpoint_id"],
            "status": raw["status"],
            "since": float(raw["since"]),
            "until": float(raw["until"]),
            "redelivered": int(raw["redelivered"]) if raw.get("redelivered") else None,
            "created_at": int(float(raw["created_at"])),
            "finished_at": float_or_none(raw.get("finished_at")),
        }

    def run_recovery(self, recovery_id: str) -> int:
        """Queue a new round for every failed delivery of the endpoint in the window."""
        rk = keys.recovery(recovery_id)
        raw = self.redis.hgetall(rk)
        if not raw or raw.get("status") != "queued":
            return 0
        self.redis.hset(rk, "status", "running")
        endpoint_id = raw["endpoint_id"]
        dids = [
            str(d)
            for d in self.redis.zrangebyscore(
                self.keys.endpoint_failed(endpoint_id), raw["since"], raw["until"]
            )
        ]
        check = self.redis.pipeline(transaction=False)
        for did in dids:
            check.hget(self.keys.delivery(did), "state")
        states = check.execute()
        now = time.time()
        pipe = self.redis.pipeline()
        count = 0
        for did, state in zip(dids, states, strict=True):
            if state == "failed":
                self.queue_round(pipe, did, keys.split_delivery_id(did)[0], endpoint_id, now)
                count += 1
            else:  # expired, or already redelivered since
                pipe.zrem(self.keys.endpoint_failed(endpoint_id), did)
        pipe.hset(rk, mapping={"status": "completed", "redelivered": count, "finished_at": now})
        pipe.execute()
        return count
