"""redis-py clients for the store: one server (plain or TLS) or the primary that the
Sentinels name, which the client follows through a failover by itself."""

from __future__ import annotations

from typing import Any

import redis
from redis.sentinel import Sentinel

from worker.errors import ConfigError
from worker.redis_target import RedisTarget, tls_options

SENTINEL_TIMEOUT_S = 2.0  # a Sentinel that does not answer within this is skipped


# Every client the store makes: answers decoded, idle connections checked and kept alive.
CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "health_check_interval": 30,
    "socket_keepalive": True,
}


def _common(target: RedisTarget) -> dict[str, Any]:
    return {**CLIENT_OPTIONS, **tls_options(target)}


def redis_client(url: str) -> redis.Redis:
    """A store client of the one server at ``url`` (``rediss://``: system CAs, verified)."""
    return redis.Redis.from_url(url, **CLIENT_OPTIONS)


def client_for(target: RedisTarget) -> redis.Redis:
    """The store's client of ``target``: through its Sentinels when it has some."""
    if not target.uses_sentinel:
        return redis.Redis.from_url(target.url, **_common(target))
    sentinel_tls = {"ssl": True, **tls_options(target)} if target.tls else {}
    # redis.sentinel carries no annotations: its two calls are typed here, at the edge.
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT_S, **sentinel_tls},
    )
    if target.master is None:
        raise ConfigError("BATCHHOOK_REDIS_SENTINELS needs BATCHHOOK_REDIS_MASTER")
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.master,
        db=target.db,
        username=target.username,
        password=target.password,
        ssl=target.tls,
        **_common(target),
    )
    return client
