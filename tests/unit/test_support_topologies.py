"""The launchers of real Redis deployments and RabbitMQ that later tests rely on: a
TLS-only Redis, a Sentinel set that fails over on demand, and a vhost per test."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import kombu
import pytest
import redis
from cryptography import x509
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from tests.support.rabbitmq import rabbitmq_or_skip
from tests.support.redis_tls import TlsRedisServer
from tests.support.sentinel import SentinelSet
from tests.support.tls import make_tls_files
from tests.support.waiting import wait_until


def test_the_server_certificate_names_loopback_and_is_signed_by_the_ca(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path)

    server = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_file.read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    server.verify_directly_issued_by(ca)
    assert files.key_file.stat().st_mode & 0o077 == 0


def test_the_tls_redis_answers_over_tls_only() -> None:
    once = Retry(NoBackoff(), retries=0)  # a refusal at once, not after redis-py's backoff
    with TlsRedisServer() as server:
        assert server.url == f"rediss://127.0.0.1:{server.port}/0"
        with server.client() as client:
            client.set("greeting", "hello")
            assert client.get("greeting") == b"hello"
        with (
            redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2, retry=once) as plain,
            pytest.raises((redis.ConnectionError, redis.TimeoutError)),
        ):
            plain.ping()
        with (
            redis.Redis.from_url(server.url, socket_timeout=2, retry=once) as untrusting,
            pytest.raises(redis.ConnectionError, match="certificate verify failed"),
        ):
            untrusting.ping()  # the throwaway CA is not among the system's


@pytest.fixture
def sentinel_client() -> Iterator[tuple[SentinelSet, Sentinel]]:
    """A running Sentinel set and a redis-py ``Sentinel`` that knows its sentinels."""
    with SentinelSet() as deployment:
        client = Sentinel(deployment.sentinels, socket_timeout=2)
        try:
            yield deployment, client
        finally:
            for sentinel in client.sentinels:
                sentinel.close()


def test_a_sentinel_failover_moves_the_primary_and_clients_follow(
    sentinel_client: tuple[SentinelSet, Sentinel],
) -> None:
    deployment, sentinel = sentinel_client
    assert deployment.current_primary() == ("127.0.0.1", deployment.primary_port)
    assert deployment.sentinels_env.count(",") == 2
    with sentinel.master_for(deployment.master_name, socket_timeout=2) as primary:
        primary.set("before", "1")
        deployment.wait_replicated()

        assert deployment.failover() == ("127.0.0.1", deployment.replica_port)

        # the first write may still reach the old primary, now read-only: redis-py then
        # drops the connection and asks the sentinels again
        wait_until(lambda: primary.set("after", "2"), timeout_s=10, message="no write")
    with deployment.node_client(deployment.replica_port) as new_primary:
        assert new_primary.execute_command("ROLE")[0] == "master"
        assert new_primary.mget("before", "after") == ["1", "2"]


def test_a_vhost_carries_messages_and_is_deleted_afterwards() -> None:
    with rabbitmq_or_skip() as broker:
        with broker.vhost() as vhost, kombu.Connection(vhost.url) as connection:
            assert broker.admin.exists(vhost.name)
            queue = kombu.Queue("checks", kombu.Exchange("checks", "direct"), routing_key="c")
            connection.Producer().publish(
                {"n": 1}, exchange=queue.exchange, routing_key="c", declare=[queue]
            )
            message = wait_until(lambda: queue(connection.default_channel).get(no_ack=True))
            assert message.payload == {"n": 1}
        assert not broker.admin.exists(vhost.name)


def test_a_killed_tls_redis_restarts_with_its_writes() -> None:
    with TlsRedisServer() as server:
        with server.client() as client:
            client.set("kept", "yes")
        server.restart()
        with server.client() as client:
            assert client.get("kept") == b"yes"
