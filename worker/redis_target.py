"""Where batchhook's Redis and broker are, read from the settings. Pure: nothing connects.

One plain ``redis://`` URL covers a single server. Production deployments add to it:

- ``rediss://``: TLS, with the server's certificate verified against the system's CAs or
  ``BATCHHOOK_REDIS_CA_FILE``; ``BATCHHOOK_REDIS_TLS_VERIFY=0`` turns verification off
  (a self-signed test server only).
- ``BATCHHOOK_REDIS_SENTINELS`` and ``BATCHHOOK_REDIS_MASTER``: the Sentinels name the
  primary, and clients follow it through a failover. The URL's host is then ignored; its
  database, user and password still apply.
- ``BATCHHOOK_REDIS_CLUSTER=1``: the URL names one node of a Redis Cluster, which holds
  the state only; Celery's broker (``BATCHHOOK_BROKER_URL``) is then elsewhere.
- ``BATCHHOOK_BROKER_URL``: Celery's broker, when it is not that Redis (``amqp://``).

The store (``worker.store.connection``) and the Celery app (``worker.broker``) both read
this one description, so they cannot disagree about TLS or the primary.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from worker.records import frozen
from worker.settings import Settings


@frozen
class RedisTarget:
    url: str
    tls: bool
    ca_file: str | None
    verify: bool
    sentinels: tuple[tuple[str, int], ...]
    master: str | None
    db: int
    username: str | None
    password: str | None
    cluster: bool = False

    @property
    def uses_sentinel(self) -> bool:
        return bool(self.sentinels)


def redis_target(settings: Settings) -> RedisTarget:
    parts = urlsplit(settings.redis_url)
    db_path = parts.path.strip("/")
    return RedisTarget(
        url=settings.redis_url,
        tls=parts.scheme == "rediss",
        ca_file=settings.redis_ca_file,
        verify=settings.redis_tls_verify,
        sentinels=parse_sentinels(settings.redis_sentinels),
        master=settings.redis_master,
        db=int(db_path) if db_path.isdigit() else 0,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        cluster=settings.redis_cluster,
    )


def parse_sentinels(raw: str | None) -> tuple[tuple[str, int], ...]:
    if not raw:
        return ()
    found = []
    for part in raw.split(","):
        host, _, port = part.strip().rpartition(":")
        found.append((host.strip("[]"), int(port)))
    return tuple(found)


def tls_options(target: RedisTarget) -> dict[str, Any]:
    """redis-py's (and kombu's Redis transport's) TLS keyword arguments; none without TLS."""
    if not target.tls:
        return {}
    options: dict[str, Any] = {
        "ssl_cert_reqs": ssl.CERT_REQUIRED if target.verify else ssl.CERT_NONE,
        "ssl_check_hostname": target.verify,
    }
    if target.ca_file:
        options["ssl_ca_certs"] = target.ca_file
    return options


def broker_url(settings: Settings) -> str:
    """The URL Celery is given: the broker's own, else the Redis, through its Sentinels
    when there are some (kombu's ``sentinel://a;sentinel://b`` form, same db and auth)."""
    if settings.broker_url:
        return settings.broker_url
    target = redis_target(settings)
    if not target.uses_sentinel:
        return target.url
    auth = ""
    if target.password is not None:
        auth = f"{quote(target.username or '', safe='')}:{quote(target.password, safe='')}@"
    return ";".join(f"sentinel://{auth}{h}:{p}/{target.db}" for h, p in target.sentinels)


def broker_is_redis(settings: Settings) -> bool:
    return broker_url(settings).startswith(("redis://", "rediss://", "sentinel://", "unix://"))
