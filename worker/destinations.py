"""Which URLs batchhook may call: webhooks and provider base URLs.

Unless ``BATCHHOOK_ALLOW_PRIVATE_DESTINATIONS=1``, loopback, private, link-local and
other non-public addresses are refused, at registration and again before each delivery
(the name may resolve differently later).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

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


def _refuse_private_host(host: str, *, resolve: bool) -> None:
    if host == "localhost" or host.endswith(".localhost"):
        raise InputError("private and loopback destinations are not allowed")
    for address in _addresses(host, resolve=resolve):
        if not address.is_global:
            raise InputError("private and loopback destinations are not allowed")


def _addresses(host: str, *, resolve: bool) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
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
