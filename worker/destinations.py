"""Which URLs batchhook may call: webhooks and provider base URLs.

Unless ``BATCHHOOK_ALLOW_PRIVATE_DESTINATIONS=1``, only https to public addresses:
loopback, private, link-local, shared, multicast and cloud metadata addresses are refused
at registration (``check_url``) and again on the address each connection actually goes
to (``PublicOnlyResolver``, inside the HTTP clients), so a name that resolves elsewhere
later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from worker.errors import InputError


def check_url(url: str, *, allow_private: bool, resolve: bool = True) -> str:
    """Return the URL if it may be called, else raise InputError saying why."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise InputError("URLs with credentials in them are not accepted")
    if not allow_private:
        if parts.scheme != "https":
            raise InputError("only https URLs are accepted")
        _refuse_private_host(parts.hostname, resolve=resolve)
    return url


PRIVATE_REFUSED = "private and loopback destinations are not allowed"
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: Address) -> bool:
    """True for an address batchhook may connect to by default. Pure."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_unspecified
        and address not in METADATA_ADDRESSES
    )


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
