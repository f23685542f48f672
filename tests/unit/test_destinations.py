"""Egress: which URLs batchhook may call, judged at registration and on connect."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from tests.support.http_server import Answer, LoopbackServer, Request
from worker.delivery import WebhookSender
from worker.destinations import (
    PRIVATE_REFUSED,
    PublicOnlyResolver,
    check_destination,
    check_url,
    is_public,
    masked_url,
    provider_client,
    public_socket,
    queue_target,
)
from worker.errors import InputError, ProviderUnavailable
from worker.models import Connection
from worker.providers import retrieve
from worker.queues import QueueError, QueuePublisher

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "100.64.0.1",  # shared address space (CGNAT)
    "169.254.169.254",  # cloud metadata (AWS, GCP, Azure)
    "169.254.1.1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "224.0.0.1",
    "ff02::1",
    "0.0.0.0",  # noqa: S104 - an address to refuse, not one to bind
    "::",
    "192.0.2.1",  # documentation ranges
    "2001:db8::1",
    "::127.0.0.1",  # IPv4-compatible loopback (deprecated form)
    "::ffff:0:a00:1",  # SIIT-translated 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254: a NAT64 gateway would reach it
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::1",  # NAT64 for local use
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "fec0::1",  # site-local (deprecated)
    "2001::1",  # Teredo
]
ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of a public address
    "2002:808:808::1",  # 6to4 of a public address
]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/hook", "is not an http(s) or queue URL"),
        ("http://example.com/hook", "only https"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("https://localhost/hook", PRIVATE_REFUSED),
        ("https://api.localhost/hook", PRIVATE_REFUSED),
        ("https://localhost./hook", PRIVATE_REFUSED),
        ("https://[::ffff:127.0.0.1]/hook", PRIVATE_REFUSED),
        ("https://[fd00:ec2::254]/latest/meta-data", PRIVATE_REFUSED),
        ("https://[::1]/hook", PRIVATE_REFUSED),
        ("https://169.254.169.254/latest/meta-data", PRIVATE_REFUSED),
        ("https://10.0.0.7:8443/hook", PRIVATE_REFUSED),
        ("https:///nohost", "is not an http(s) or queue URL"),
        ("amqp://guest:guest@10.0.0.5:5672/vh?routing_key=k", PRIVATE_REFUSED),
        ("nats://127.0.0.1:4222?subject=s", PRIVATE_REFUSED),
        ("redis://169.254.169.254:6379/0?stream=s", PRIVATE_REFUSED),
        ("rediss://localhost:6380/0?stream=s", PRIVATE_REFUSED),
        ("redis://[::1]:6379/0?stream=s", PRIVATE_REFUSED),
    ],
)
def test_check_url_refuses_with_a_reason(url: str, why: str) -> None:
    with pytest.raises(InputError, match=why.replace("(", r"\(").replace(")", r"\)")):
        check_destination(url, allow_private=False, resolve=False)


def test_private_destinations_may_be_allowed_for_development() -> None:
    assert check_url("http://127.0.0.1:8080/hook", allow_private=True) == (
        "http://127.0.0.1:8080/hook"
    )
    with pytest.raises(InputError, match="is not an http"):
        check_url("file:///etc/passwd", allow_private=True)


class ResolvesEverythingTo(AbstractResolver):
    """The name service, at its boundary: answers one address for any name, as a
    rebinding attacker's DNS would after the registration check."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            {
                "hostname": host,
                "host": self.address,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


def send_once(url: str, *, allow_private: bool, dns: AbstractResolver | None) -> str | None:
    """One webhook POST through the sender the worker uses; returns the attempt's error."""

    async def attempt() -> str | None:
        sender = WebhookSender(allow_private=allow_private, resolver=dns)
        try:
            answer = await sender.post(url, {"content-type": "application/json"}, b"{}", 5.0)
        finally:
            await sender.aclose()
        return answer.error

    return asyncio.run(attempt())


def test_a_name_that_rebinds_to_loopback_is_refused_on_connect() -> None:
    received: list[Request] = []

    def handle(request: Request) -> Answer:
        received.append(request)
        return Answer(200)

    with LoopbackServer(handle) as server:
        dns = ResolvesEverythingTo("127.0.0.1")
        url = f"http://hooks.example.com:{server.port}/hook"
        error = send_once(url, allow_private=False, dns=dns)

        assert dns.asked == ["hooks.example.com"]
        assert error is not None and PRIVATE_REFUSED in error
        assert received == []

        # The same request with private destinations allowed does reach the server:
        # the refusal above was the resolver's, not a broken request.
        assert send_once(url, allow_private=True, dns=dns) is None
        assert len(received) == 1


def test_a_public_answer_passes_the_resolver() -> None:
    async def resolve() -> list[ResolveResult]:
        return await PublicOnlyResolver(ResolvesEverythingTo("8.8.8.8")).resolve("x.example", 443)

    [answer] = asyncio.run(resolve())
    assert answer["host"] == "8.8.8.8" and answer["port"] == 443


def poll_once(base_url: str, resolver: AbstractResolver | None = None) -> None:
    """One retrieve through the session the worker polls with (private addresses refused)."""
    conn = Connection(
        id="conn_1",
        tenant="acme",
        provider="openai",
        base_url=base_url,
        api_key="sk-test-key",
        headers={},
        params=None,
        created_at=0.0,
    )

    async def get() -> None:
        async with provider_client(limit=5, allow_private=False, resolver=resolver) as client:
            await retrieve(client, conn, "batch_1", timeout_s=5)

    asyncio.run(get())


def test_the_poll_client_refuses_private_addresses_too() -> None:
    """Provider calls go through the same resolver: a base_url host that rebinds is refused."""
    with pytest.raises(ProviderUnavailable) as refused:
        poll_once("http://api.example.com/v1", ResolvesEverythingTo("10.0.0.1"))

    assert PRIVATE_REFUSED in str(refused.value.__cause__)


def test_a_mixed_answer_keeps_only_its_public_addresses() -> None:
    class Answers(ResolvesEverythingTo):
        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            [public] = await ResolvesEverythingTo("8.8.4.4").resolve(host, port, family)
            return [{**public, "host": "10.0.0.1"}, public]

    answers = asyncio.run(PublicOnlyResolver(Answers("unused")).resolve("mixed.example", 443))
    assert [a["host"] for a in answers] == ["8.8.4.4"]


@pytest.mark.parametrize(
    ("literal", "family", "listen_on"),
    [
        ("127.0.0.1", socket.AF_INET, "127.0.0.1"),
        ("[::ffff:127.0.0.1]", socket.AF_INET, "127.0.0.1"),
        ("[::1]", socket.AF_INET6, "::1"),
    ],
    ids=["ipv4", "ipv4-mapped-ipv6", "ipv6"],
)
def test_an_ip_literal_is_refused_on_connect_not_only_at_registration(
    literal: str, family: socket.AddressFamily, listen_on: str
) -> None:
    """aiohttp asks no resolver about IP literals; the socket factory still refuses them,
    on the poll client too, which does not re-check a connection's stored base_url."""

    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((listen_on, 0))
        listener.listen()
        with pytest.raises(ProviderUnavailable) as refused:
            poll_once(f"http://{literal}:{listener.getsockname()[1]}/v1")
        assert PRIVATE_REFUSED in str(refused.value.__cause__)
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):  # no connection was ever opened to it
            listener.accept()


def test_the_socket_factory_opens_sockets_to_public_addresses_only() -> None:
    tcp = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
    with public_socket((*tcp, ("8.8.8.8", 443))) as sock:
        assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM
    with pytest.raises(OSError, match=PRIVATE_REFUSED):
        public_socket((*tcp, ("169.254.169.254", 80)))


def test_a_refused_connection_is_logged_as_one_not_as_a_timeout() -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    error = send_once(f"http://127.0.0.1:{port}/hook", allow_private=True, dns=None)
    assert error is not None and error.startswith(
        f"ConnectError: cannot connect to 127.0.0.1:{port}"
    )


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "path", "params"),
    [
        (
            "amqp://guest:guest@mq.example.com/prod?exchange=batches&routing_key=done",
            "amqp",
            "mq.example.com",
            5672,
            "prod",
            {"exchange": "batches", "routing_key": "done"},
        ),
        ("nats://nats.example.com?subject=batch.events", "nats", "nats.example.com", 4222, "", {}),
        (
            "rediss://:pw@cache.example.com:6380/2?stream=hooks",
            "rediss",
            "cache.example.com",
            6380,
            "2",
            {},
        ),
    ],
)
def test_queue_urls_name_their_server_and_destination(
    url: str, scheme: str, host: str, port: int, path: str, params: dict[str, str]
) -> None:
    target = queue_target(url)
    assert (target.scheme, target.host, target.port, target.path) == (scheme, host, port, path)
    assert params.items() <= target.params.items()
    assert check_destination(url, allow_private=False, resolve=False) == url
    assert "guest" not in repr(target) and "pw" not in repr(target)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("amqp://h/vh", "exchange=... or ?routing_key="),
        ("nats://h:4222", "subject="),
        ("redis://h/0", "stream="),
        ("redis://h/db?stream=s", "database number"),
        ("nats://h?subject=s&durable=x", "not ['durable']"),
        ("amqp://u:hunter2@h:notaport/?routing_key=k", "bad port"),
    ],
)
def test_a_bad_queue_url_says_what_is_wrong_without_its_password(url: str, why: str) -> None:
    with pytest.raises(InputError, match=re.escape(why)) as raised:
        queue_target(url)
    assert "hunter2" not in str(raised.value)


def test_a_password_is_shown_masked_and_other_urls_unchanged() -> None:
    assert masked_url("amqp://app:hunter2@mq:5672/v?routing_key=k") == (
        "amqp://app:***@mq:5672/v?routing_key=k"
    )
    assert masked_url("redis://:hunter2@cache/0?stream=s") == "redis://:***@cache/0?stream=s"
    assert masked_url("https://example.com/hook") == "https://example.com/hook"


def test_a_queue_name_resolving_to_a_private_address_is_not_connected_to() -> None:
    """The address a queue connection would use is judged as a webhook's is: a name
    that resolves only to loopback is refused before any connection is opened."""
    publisher = QueuePublisher(allow_private=False)
    headers = {"webhook-id": "evt_1", "webhook-timestamp": "1", "webhook-signature": "v1,x"}
    with pytest.raises(QueueError, match=PRIVATE_REFUSED):
        asyncio.run(publisher.publish("nats://localhost:4222?subject=s", headers, b"{}", 2))


def test_a_provider_base_url_is_never_a_queue() -> None:
    with pytest.raises(InputError, match="is not an http"):
        check_url("redis://127.0.0.1:6379/0?stream=s", allow_private=True)
