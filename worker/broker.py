"""Celery's broker settings: Redis (plain, TLS or through Sentinel) or RabbitMQ.

Whatever the broker, a task is acknowledged only once it ran (late acks) and goes back to
the queue when its worker dies, so a crash loses no poll or delivery. Publishes wait for
the broker's confirmation: Redis answers each write; RabbitMQ is asked for publisher
confirms (``confirm_publish``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from worker.redis_target import broker_url, redis_target, tls_options
from worker.settings import Settings

# How long a Redis broker waits before handing an unacknowledged task to another worker.
REDIS_VISIBILITY_TIMEOUT_S = 3600
# How long a worker's BRPOP on the queues blocks before it is issued again (kombu's
# default: 1 s). A message wakes it at once either way; longer, an idle worker wakes less.
REDIS_QUEUE_WAIT_S = 5
# kombu's Redis transports minus a once-a-second no-op timer (see worker.broker_transport).
REDIS_TRANSPORTS = {
    "redis": "worker.broker_transport:RedisTransport",
    "rediss": "worker.broker_transport:RedisTransport",
    "sentinel": "worker.broker_transport:SentinelTransport",
}


def broker_config(settings: Settings) -> dict[str, Any]:
    """The ``app.conf`` entries that say where the broker is and how to talk to it."""
    url = broker_url(settings)
    config: dict[str, Any] = {
        "broker_url": url,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "broker_connection_retry_on_startup": True,
    }
    if url.startswith(("amqp://", "amqps://")):
        config["broker_transport_options"] = {"confirm_publish": True}
        return config
    options: dict[str, Any] = {
        "visibility_timeout": REDIS_VISIBILITY_TIMEOUT_S,
        "polling_interval": REDIS_QUEUE_WAIT_S,
    }
    scheme = url.partition("://")[0]
    if scheme in REDIS_TRANSPORTS:
        config["broker_transport"] = REDIS_TRANSPORTS[scheme]
    target = redis_target(settings)
    if url.startswith("sentinel://"):
        options["master_name"] = target.master
        if target.tls:
            options["sentinel_kwargs"] = {"ssl": True, **tls_options(target)}
    config["broker_transport_options"] = options
    if url.startswith("rediss://") or (url.startswith("sentinel://") and target.tls):
        config["broker_use_ssl"] = tls_options(replace(target, tls=True))
    return config
