"""Waiting until writes reach the replicas (Redis ``WAIT``)."""

from __future__ import annotations

from worker import keys
from worker.store.client import Client


def wait_for_replicas(client: Client, replicas: int, timeout_s: float) -> int:
    """How many replicas hold every write made so far, waiting up to ``timeout_s`` for
    ``replicas`` of them.

    ``WAIT`` counts the writes of its own connection, and a pooled client may have made
    the caller's writes on another one; so this connection first makes a write of its
    own. The replication stream is ordered: a replica that has this marker has every
    write that finished before it, whichever connection made it."""
    pipe = client.pipeline(transaction=False)
    pipe.incr(keys.REPLICATION_MARK)
    pipe.wait(replicas, max(1, int(timeout_s * 1000)))
    _, acknowledged = pipe.execute()
    return int(acknowledged)
