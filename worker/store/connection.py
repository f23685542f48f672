"""redis-py clients for the store: one server (plain or TLS), the primary that the
Sentinels name, which the client follows through a failover by itself, or a Redis
Cluster, whose client sends each command to the shard that holds its slot."""

from __future__ import annotations

from typing import Any, cast

import redis
from redis.cluster import ClusterPipeline, RedisCluster
from redis.sentinel import Sentinel

from worker.errors import ConfigError
from worker.redis_target import RedisTarget, tls_options
from worker.store.packing import HiredisPacker

SENTINEL_TIMEOUT_S = 2.0  # a Sentinel that does not answer within this is skipped


# Every client the store makes: answers decoded, idle connections checked and kept alive,
# commands packed by hiredis alone (a Cluster client does not take a packer: its own).
CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "health_check_interval": 30,
    "socket_keepalive": True,
    "command_packer": HiredisPacker(),
}


def _common(target: RedisTarget, socket_timeout_s: float | None) -> dict[str, Any]:
    return {**CLIENT_OPTIONS, "socket_timeout": socket_timeout_s, **tls_options(target)}


def redis_client(url: str) -> redis.Redis:
    """A store client of the one server at ``url`` (``rediss://``: system CAs, verified)."""
    return redis.Redis.from_url(url, **CLIENT_OPTIONS)


class ClusterClient(RedisCluster):
    """A Cluster client whose pipelines are never MULTI transactions.

    A transaction cannot span slots, and the store's few multi-key writes outside the Lua
    scripts (creating or deleting an endpoint with its tenant's index, a redelivery) touch
    keys of several. On a Cluster they are sent as plain pipelines, each command to its
    shard: every step that must happen once is a script, and scripts stay atomic."""

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> ClusterPipeline:
        # redis.cluster carries no annotations: typed here, at the edge.
        pipe: ClusterPipeline = super().pipeline(  # type: ignore[no-untyped-call]
            transaction=False, shard_hint=shard_hint
        )
        return pipe


def client_for(target: RedisTarget, socket_timeout_s: float | None = None) -> redis.Redis:
    """The store's client of ``target``: through its Sentinels when it has some. With
    ``socket_timeout_s``, a command unanswered that long fails (beat's blocking wait)."""
    if target.cluster:
        # Typed as the one-server client the store holds (``client.typed``): the commands
        # the store uses have the same signatures on both.
        options = _common(target, socket_timeout_s)
        return cast(redis.Redis, ClusterClient.from_url(target.url, **options))
    if not target.uses_sentinel:
        return redis.Redis.from_url(target.url, **_common(target, socket_timeout_s))
    sentinel_tls = {"ssl": True, **tls_options(target)} if target.tls else {}
    # redis.sentinel carries annotations only from redis-py 8.2: called through Any so
    # that both type-check, and the client typed here, at the edge.
    make_sentinel: Any = Sentinel
    sentinel = make_sentinel(
        list(target.sentinels),
        sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT_S, **sentinel_tls},
    )
    if target.master is None:
        raise ConfigError("BATCHHOOK_REDIS_SENTINELS needs BATCHHOOK_REDIS_MASTER")
    client: redis.Redis = sentinel.master_for(
        target.master,
        db=target.db,
        username=target.username,
        password=target.password,
        ssl=target.tls,
        **_common(target, socket_timeout_s),
    )
    return client
