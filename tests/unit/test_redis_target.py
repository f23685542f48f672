"""Where the store and the broker connect, read from the settings alone."""

from __future__ import annotations

import ssl

import pytest
from pydantic import ValidationError

from worker.broker import broker_config
from worker.redis_target import broker_url, redis_target, tls_options
from worker.settings import Settings


def settings(**values: object) -> Settings:
    return Settings(secret_key="k", **values)  # type: ignore[arg-type]  # pydantic fields


def test_a_plain_url_is_store_and_broker_alike() -> None:
    chosen = settings(redis_url="redis://cache:6380/2")

    assert broker_url(chosen) == "redis://cache:6380/2"
    assert tls_options(redis_target(chosen)) == {}
    assert broker_config(chosen)["broker_transport_options"]["visibility_timeout"] == 3600


def test_rediss_verifies_the_certificate_by_default() -> None:
    target = redis_target(settings(redis_url="rediss://cache:6380/0"))

    assert tls_options(target) == {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_check_hostname": True}


def test_rediss_with_a_ca_file_gives_it_to_store_and_broker() -> None:
    chosen = settings(redis_url="rediss://cache:6380/0", redis_ca_file="/etc/ca.pem")

    assert tls_options(redis_target(chosen))["ssl_ca_certs"] == "/etc/ca.pem"
    assert broker_config(chosen)["broker_use_ssl"]["ssl_ca_certs"] == "/etc/ca.pem"


def test_verification_is_off_only_when_asked() -> None:
    target = redis_target(settings(redis_url="rediss://cache/0", redis_tls_verify=False))

    assert tls_options(target)["ssl_cert_reqs"] == ssl.CERT_NONE
    assert tls_options(target)["ssl_check_hostname"] is False


def test_sentinels_win_over_the_host_and_keep_db_and_password() -> None:
    chosen = settings(
        redis_url="redis://:s3cr%2Ft@ignored:1/3",
        redis_sentinels="10.0.0.1:26379, 10.0.0.2:26380",
        redis_master="bh",
    )
    target = redis_target(chosen)

    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380))
    assert (target.db, target.password, target.master) == (3, "s3cr/t", "bh")
    assert broker_url(chosen) == (
        "sentinel://:s3cr%2Ft@10.0.0.1:26379/3;sentinel://:s3cr%2Ft@10.0.0.2:26380/3"
    )
    assert broker_config(chosen)["broker_transport_options"]["master_name"] == "bh"


def test_a_rabbitmq_broker_confirms_publishes_and_acks_late() -> None:
    chosen = settings(broker_url="amqp://guest:guest@rabbit:5672/bh")
    config = broker_config(chosen)

    assert config["broker_url"] == "amqp://guest:guest@rabbit:5672/bh"
    assert config["broker_transport_options"] == {"confirm_publish": True}
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"redis_sentinels": "a:1"}, "BATCHHOOK_REDIS_MASTER"),
        ({"redis_master": "bh"}, "BATCHHOOK_REDIS_SENTINELS"),
        ({"redis_sentinels": "nohost", "redis_master": "bh"}, "host:port"),
        ({"broker_url": "kafka://x"}, "must start with"),
        ({"redis_wait_replicas": -1}, "greater than or equal to 0"),
    ],
)
def test_settings_that_cannot_work_are_refused(values: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        settings(**values)


@pytest.mark.parametrize(
    ("values", "transport"),
    [
        ({"redis_url": "redis://cache:6380/2"}, "RedisTransport"),
        ({"redis_url": "rediss://cache:6380/2"}, "RedisTransport"),
        ({"redis_sentinels": "a:1", "redis_master": "bh"}, "SentinelTransport"),
    ],
)
def test_a_redis_broker_uses_the_transport_without_the_idle_timer(
    values: dict[str, str], transport: str
) -> None:
    """kombu resolves the broker URL to batchhook's transport for the same scheme (its
    once-a-second no-op timer cancelled); RabbitMQ keeps kombu's own."""
    from celery import Celery

    from worker import broker_transport

    app = Celery(set_as_current=False)
    app.conf.update(broker_config(settings(**values)))
    transport_cls = app.connection_for_read().get_transport_cls()
    assert transport_cls is getattr(broker_transport, transport)
    rabbit = Celery(set_as_current=False)
    rabbit.conf.update(broker_config(settings(broker_url="amqp://guest:guest@rabbit:5672/")))
    assert rabbit.connection_for_read().get_transport_cls().__module__ == "kombu.transport.pyamqp"
