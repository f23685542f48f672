"""Which URLs batchhook may call: webhooks, queue destinations and provider base URLs.

A webhook URL is http(s) with no credentials in it. A queue destination (``amqp://``,
``nats://``, ``redis://`` / ``rediss://``, see ``queue_target``) may carry them: they
are stored sealed and shown back masked (``masked_url``).

Unless ``BATCHHOOK_ALLOW_PRIVATE_DESTINATIONS=1``, only https to public addresses:
loopback, private, link-local, shared, multicast and cloud metadata addresses (and IPv6
forms that stand for them) are refused at registration (``check_url``) and again on the
address each connection actually goes to, inside the HTTP clients: ``PublicOnlyResolver``
drops the non-public answers of a name, and ``public_socket`` refuses to open a socket
to anything else, IP literals included. A name that resolves elsewhere later (DNS
rebinding) gains nothing, and no check blocks the event loop on DNS.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import socket
import ssl
from dataclasses import field
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import aiohttp
import httpx
from aiohttp import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from worker.errors import InputError
from worker.http1 import Http1Client
from worker.records import frozen

QUEUE_SCHEMES = {"amqp": 5672, "nats": 4222, "redis": 6379, "rediss": 6379}
QUEUE_PARAMS = {"amqp": ("exchange", "routing_key"), "nats": ("subject",)}
QUEUE_PARAMS["redis"] = QUEUE_PARAMS["rediss"] = ("stream",)
REQUIRED_PARAM = {"nats": "subject", "redis": "stream", "rediss": "stream"}
MASK = "***"


@frozen
class QueueTarget:
    """Where a queue destination publishes: RabbitMQ (``amqp``: ``exchange``, default the
    default exchange, and ``routing_key``), NATS JetStream (``subject``) or a Redis Stream
    (``redis`` / ``rediss``: ``stream``). Credentials stay out of ``repr``."""

    scheme: str
    host: str
    port: int
    path: str  # the AMQP vhost, or the Redis database
    params: dict[str, str]
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @property
    def connection_key(self) -> tuple[str, ...]:
        """What one connection serves: targets on the same server, as the same user,
        share it."""
        return (self.scheme, self.host, str(self.port), self.path, *self._login)

    @property
    def _login(self) -> tuple[str, str]:
        return (self.username or "", self.password or "")


def is_queue_url(url: str) -> bool:
    return urlsplit(url).scheme in QUEUE_SCHEMES


def queue_target(url: str) -> QueueTarget:
    """Parse a queue destination URL, or raise InputError saying what is wrong with it
    (never repeating its password)."""
    parts = urlsplit(url)
    scheme, shown = parts.scheme, masked_url(url)
    try:
        port = parts.port or QUEUE_SCHEMES[scheme]
    except ValueError as exc:
        raise InputError(f"{shown!r} has a bad port") from exc
    if not parts.hostname:
        raise InputError(f"{shown!r} names no host")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(query) - set(QUEUE_PARAMS[scheme]))
    if unknown:
        raise InputError(f"{scheme}:// URLs take {', '.join(QUEUE_PARAMS[scheme])}, not {unknown}")
    params = {name: values[-1] for name, values in query.items()}
    if scheme == "amqp" and not (params.get("exchange") or params.get("routing_key")):
        raise InputError("amqp:// URLs need ?exchange=... or ?routing_key=... (or both)")
    if scheme in REQUIRED_PARAM and not params.get(REQUIRED_PARAM[scheme]):
        raise InputError(f"{scheme}:// URLs need ?{REQUIRED_PARAM[scheme]}=...")
    path = unquote(parts.path.removeprefix("/"))
    if scheme.startswith("redis") and path and not path.isdigit():
        raise InputError("a redis:// URL's path is the database number")
    return QueueTarget(
        scheme=scheme,
        host=parts.hostname,
        port=port,
        path=path,
        params=params,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def masked_url(url: str) -> str:
    """The URL as shown back: its password, if any, replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = (parts.netloc.rpartition("@")[0]).partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{netloc}"))


def has_credentials(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.username or parts.password)


def check_destination(url: str, *, allow_private: bool, resolve: bool = True) -> str:
    """Return an endpoint's URL if events may go there, else raise InputError saying
    why: an http(s) webhook URL (``check_url``), or a queue's (``queue_target``) on a
    public host unless ``allow_private``."""
    if not is_queue_url(url):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"{masked_url(url)!r} is not an http(s) or queue URL")
        return check_url(url, allow_private=allow_private, resolve=resolve)
    target = queue_target(url)
    if not allow_private:
        _refuse_private_host(target.host.rstrip("."), resolve=resolve)
    return url


def check_url(url: str, *, allow_private: bool, resolve: bool = True) -> str:
    """Return the URL if it may be called, else raise InputError saying why."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{masked_url(url)!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise InputError("URLs with credentials in them are not accepted")
    if not allow_private:
        if parts.scheme != "https":
            raise InputError("only https URLs are accepted")
        _refuse_private_host(parts.hostname.rstrip("."), resolve=resolve)
    return url


PRIVATE_REFUSED = "private and loopback destinations are not allowed"
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# IPv6 prefixes whose last 32 bits are an IPv4 address the packet ends up at: IPv4-compatible
# (deprecated), SIIT-translated and NAT64 (RFC 6052), which a NAT64 gateway turns into the
# private network behind it. (IPv4-mapped and 6to4 have their own properties.)
EMBEDS_IPV4_LAST = tuple(
    ipaddress.IPv6Network(n) for n in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)
NOT_GLOBAL_V6 = ipaddress.IPv6Network("64:ff9b:1::/48")  # NAT64 for local use (RFC 8215)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: Address) -> bool:
    """True for an address batchhook may connect to by default. Pure."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local or address in NOT_GLOBAL_V6:
            return False
        address = _embedded_ipv4(address) or address
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_unspecified
        and address not in METADATA_ADDRESSES
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for, if it stands for one."""
    embedded = address.ipv4_mapped or address.sixtofour
    if embedded is None and any(address in prefix for prefix in EMBEDS_IPV4_LAST):
        embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return embedded


def _refuse_private_host(host: str, *, resolve: bool) -> None:
    if host == "localhost" or host.endswith(".localhost"):
        raise InputError(PRIVATE_REFUSED)
    for address in _addresses(host, resolve=resolve):
        if not is_public(address):
            raise InputError(PRIVATE_REFUSED)


class PublicOnlyResolver(AbstractResolver):
    """Resolve as ``inner`` does, then keep only public addresses: the check is made on
    what the connection will use. (aiohttp does not resolve IP literals; ``check_url``
    judges those.)"""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self.inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self.inner.resolve(host, port, family)
        public = [a for a in answers if is_public(ipaddress.ip_address(a["host"]))]
        if not public:
            raise OSError(errno.EACCES, PRIVATE_REFUSED)
        return public

    async def close(self) -> None:
        await self.inner.close()


def public_socket(addr_info: AddrInfoType) -> socket.socket:
    """The connector's socket factory: the last word on every address a connection is
    opened to, resolved or literal (aiohttp passes IP literals to no resolver)."""
    family, kind, proto, _, sockaddr = addr_info
    if not is_public(ipaddress.ip_address(sockaddr[0])):
        raise OSError(errno.EACCES, PRIVATE_REFUSED)
    return socket.socket(family, kind, proto)


def _addresses(host: str, *, resolve: bool) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    if not resolve:
        return []
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise InputError(f"cannot resolve {host!r}") from exc
    return [ipaddress.ip_address(info[4][0]) for info in infos]


KEEPALIVE_S = 5.0  # how long an idle pooled connection is kept
# ... and one to a provider, whose GETs are idempotent: the client sends a GET again, once,
# on a fresh connection when a kept one turns out to have been closed by the server.
# Longer than a small deployment's gathered ticks (BATCHHOOK_POLL_GATHER_S) and the
# adaptive schedule's 15 s floor, so polls do not open a connection (a TLS handshake,
# against a real provider) each time.
PROVIDER_KEEPALIVE_S = 60.0


@functools.cache
def tls_context() -> ssl.SSLContext:
    """TLS verified as httpx verifies it (certifi's roots), loaded once per process:
    loading the roots costs tens of milliseconds."""
    return httpx.create_ssl_context()


def guarded_session(
    *,
    limit: int,
    allow_private: bool,
    resolver: AbstractResolver | None = None,
    keepalive_s: float = KEEPALIVE_S,
) -> aiohttp.ClientSession:
    """An aiohttp session (make it inside the event loop) with up to ``limit`` pooled
    keep-alive connections (each kept ``keepalive_s`` while idle), TLS verified as httpx
    verifies it (certifi's roots). Unless private destinations are allowed, it connects
    only to public addresses: names resolve through ``PublicOnlyResolver`` (``resolver``
    is the name service under it: aiohttp's own by default) and every socket is opened
    by ``public_socket``."""
    connector = aiohttp.TCPConnector(
        limit=limit,
        keepalive_timeout=keepalive_s,
        ssl=tls_context(),
        resolver=resolver if allow_private else PublicOnlyResolver(resolver),
        socket_factory=None if allow_private else public_socket,
    )
    return aiohttp.ClientSession(connector=connector)


def guarded_client(
    *,
    limit: int,
    allow_private: bool,
    resolver: AbstractResolver | None = None,
    keepalive_s: float = KEEPALIVE_S,
) -> Http1Client:
    """The worker's HTTP client (``worker.http1``; make it inside the event loop) for
    provider calls and webhook POSTs: up to ``limit`` calls in flight, idle connections
    kept ``keepalive_s``, TLS and the egress guard as in ``guarded_session``."""
    return Http1Client(
        limit=limit,
        keepalive_s=keepalive_s,
        tls=tls_context(),
        resolver=resolver if allow_private else PublicOnlyResolver(resolver),
        socket_factory=None if allow_private else public_socket,
    )


def provider_client(
    *, limit: int, allow_private: bool, resolver: AbstractResolver | None = None
) -> Http1Client:
    """The client provider calls go through: ``guarded_client`` with its idle
    connections kept for ``PROVIDER_KEEPALIVE_S``."""
    return guarded_client(
        limit=limit,
        allow_private=allow_private,
        resolver=resolver,
        keepalive_s=PROVIDER_KEEPALIVE_S,
    )
