"""How a connection has been used, read beside the connection itself (one round trip for
a whole page of them): its account's last listing, when it watches the whole account,
and the provider's 429s that paused its polls. Each key is in the connection's slot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from worker.keys import Keyspace
from worker.models import ConnectionActivity, Discovery
from worker.store.base import float_or_none
from worker.store.client import Pipeline

QUEUED = 3  # the commands ``queue`` adds to a pipeline for one connection


def queue(pipe: Pipeline, ks: Keyspace, connection_id: str) -> None:
    """Ask for one connection's activity; ``read`` decodes the ``QUEUED`` answers."""
    pipe.hmget(ks.connection_discovery(connection_id), "at", "listed", "registered")
    pipe.get(ks.connection_paused_until(connection_id))
    pipe.hmget(ks.connection_pauses(connection_id), "count", "last_at")


def read(answers: Sequence[Any], now: float) -> ConnectionActivity:
    (at, listed, registered), paused, (count, last_at) = answers
    until = float_or_none(paused)
    return ConnectionActivity(
        last_discovery=Discovery(float(at), int(listed or 0), int(registered or 0)) if at else None,
        paused_until=until if until is not None and until > now else None,
        rate_limit_pauses=int(count or 0),
        last_paused_at=float_or_none(last_at),
    )
