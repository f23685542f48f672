"""Queue destinations: publish an event to RabbitMQ, NATS JetStream or a Redis Stream.

An endpoint whose URL is a queue's (``destinations.queue_target``) gets the same body
and the same three ``webhook-*`` values a webhook gets, as message headers (a Redis
Stream entry: fields ``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` and
``body``). An attempt succeeds only when the server has taken the message:

- RabbitMQ: a publisher confirm (``basic.ack``), published ``mandatory``, so a message no
  queue is bound to take comes back and the attempt fails;
- NATS: the JetStream ack (a stream stored it; no stream on the subject fails);
- Redis: the entry id ``XADD`` answers.

Anything else raises ``QueueError`` and is retried like a failed webhook. Each worker
process keeps one connection per server (``QueuePublisher``), opened on first use to an
address checked as webhook addresses are (public only unless private destinations are
allowed), and dropped after any failure so the next attempt connects afresh.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Protocol

import aio_pika
import nats
import redis.asyncio as aioredis
import structlog
from nats.aio.client import Client as NatsClient
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from worker.destinations import PRIVATE_REFUSED, QueueTarget, is_public, queue_target

log = structlog.get_logger()

WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class QueueError(Exception):
    """The message was not taken; the text says why (never with the URL's password)."""


class Link(Protocol):
    """One open connection to a queue server."""

    async def publish(self, target: QueueTarget, headers: dict[str, str], body: bytes) -> str:
        """Publish once; the server's receipt, as the attempt log shows it."""
        ...

    async def close(self) -> None: ...


class AmqpLink:
    def __init__(self, connection: aio_pika.abc.AbstractConnection) -> None:
        self.connection = connection
        self.channel: aio_pika.abc.AbstractChannel | None = None

    @classmethod
    async def open(cls, target: QueueTarget, address: str, timeout_s: float) -> AmqpLink:
        connection = await aio_pika.connect(
            host=address,
            port=target.port,
            login=target.username or "guest",
            password=target.password or "guest",
            virtualhost=target.path or "/",
            timeout=timeout_s,
            client_properties={"connection_name": "batchhook"},
        )
        link = cls(connection)
        link.channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        return link

    async def publish(self, target: QueueTarget, headers: dict[str, str], body: bytes) -> str:
        assert self.channel is not None  # noqa: S101 - set by open()
        name = target.params.get("exchange", "")
        exchange = (
            await self.channel.get_exchange(name, ensure=False)
            if name
            else self.channel.default_exchange
        )
        message = aio_pika.Message(
            body,
            headers=dict(headers),
            content_type="application/json",
            message_id=headers["webhook-id"],
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await exchange.publish(message, routing_key=target.params.get("routing_key", ""))
        return f"confirmed by RabbitMQ (exchange {name or '(default)'!r})"

    async def close(self) -> None:
        await self.connection.close()


class NatsLink:
    def __init__(self, client: NatsClient) -> None:
        self.client = client

    @classmethod
    async def open(cls, target: QueueTarget, address: str, timeout_s: float) -> NatsLink:
        auth: dict[str, str] = {}
        if target.username and target.password:
            auth = {"user": target.username, "password": target.password}
        elif target.username:
            auth = {"token": target.username}
        client = await nats.connect(
            servers=[f"nats://{_host_literal(address)}:{target.port}"],
            connect_timeout=max(1, int(timeout_s)),
            allow_reconnect=False,
            max_reconnect_attempts=0,
            error_cb=_quiet,
            name="batchhook",
            **auth,
        )
        return cls(client)

    async def publish(self, target: QueueTarget, headers: dict[str, str], body: bytes) -> str:
        if not self.client.is_connected:
            raise QueueError("the NATS connection was lost")
        ack = await self.client.jetstream().publish(
            target.params["subject"], body, headers=dict(headers)
        )
        return f"stored by JetStream stream {ack.stream!r} as message {ack.seq}"

    async def close(self) -> None:
        await self.client.close()


class RedisStreamLink:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    @classmethod
    async def open(cls, target: QueueTarget, address: str, timeout_s: float) -> RedisStreamLink:
        tls = target.scheme == "rediss"
        client = aioredis.Redis(
            # TLS checks the certificate against the name, so it connects by name.
            host=target.host if tls else address,
            port=target.port,
            db=int(target.path or 0),
            username=target.username,
            password=target.password,
            ssl=tls,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),  # the delivery's own retries apply instead
        )
        return cls(client)

    async def publish(self, target: QueueTarget, headers: dict[str, str], body: bytes) -> str:
        fields: dict[str, str | bytes] = {name: headers[name] for name in WEBHOOK_HEADERS}
        fields["body"] = body
        entry = await self.client.xadd(target.params["stream"], fields)  # type: ignore[arg-type]
        entry_id = entry.decode() if isinstance(entry, bytes) else str(entry)
        return f"added to stream {target.params['stream']!r} as {entry_id}"

    async def close(self) -> None:
        await self.client.aclose()


Opener = Callable[[QueueTarget, str, float], Awaitable[Link]]
OPENERS: dict[str, Opener] = {
    "amqp": AmqpLink.open,
    "nats": NatsLink.open,
    "redis": RedisStreamLink.open,
    "rediss": RedisStreamLink.open,
}


class QueuePublisher:
    """A worker process's connections to queue servers, one per server."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._links: dict[tuple[str, ...], Link] = {}
        self._opening: dict[tuple[str, ...], asyncio.Lock] = {}

    async def publish(
        self, url: str, headers: dict[str, str], body: bytes, timeout_s: float
    ) -> str:
        """Publish one message within ``timeout_s``; the receipt, or QueueError."""
        target = queue_target(url)
        try:
            async with asyncio.timeout(timeout_s):
                return await self._publish(target, headers, body, timeout_s)
        except QueueError:
            await self._drop(target)
            raise
        except Exception as exc:  # every client library has its own errors: all mean "not taken"
            await self._drop(target)
            raise QueueError(_reason(exc, target)) from None

    async def _publish(
        self, target: QueueTarget, headers: dict[str, str], body: bytes, timeout_s: float
    ) -> str:
        """Publish on the open connection; if that fails, once more on a new one. A
        connection idle between tasks (the loop does not run then) may have been
        closed by the server without our noticing: that is no reason to fail."""
        link, opened = await self._link(target, timeout_s)
        if opened:
            return await link.publish(target, headers, body)
        try:
            return await link.publish(target, headers, body)
        except Exception:
            log.info("queue_connection_reopened", scheme=target.scheme, host=target.host)
            await self._drop(target)
        link, _ = await self._link(target, timeout_s)
        return await link.publish(target, headers, body)

    async def _link(self, target: QueueTarget, timeout_s: float) -> tuple[Link, bool]:
        """The connection to the target's server, and whether it was opened just now."""
        key = target.connection_key
        async with self._opening.setdefault(key, asyncio.Lock()):
            if key in self._links:
                return self._links[key], False
            address = await self._address(target.host, target.port)
            self._links[key] = await OPENERS[target.scheme](target, address, timeout_s)
            return self._links[key], True

    async def _address(self, host: str, port: int) -> str:
        """The address to connect to: the first the name resolves to that may be used."""
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [str(info[4][0]) for info in infos]
        usable = [a for a in addresses if self.allow_private or is_public(ipaddress.ip_address(a))]
        if not usable:
            raise QueueError(PRIVATE_REFUSED)
        return usable[0]

    async def _drop(self, target: QueueTarget) -> None:
        link = self._links.pop(target.connection_key, None)
        if link is not None:
            await _close_quietly(link)

    async def aclose(self) -> None:
        links, self._links = list(self._links.values()), {}
        for link in links:
            await _close_quietly(link)


async def _close_quietly(link: Link) -> None:
    try:
        await link.close()
    except Exception:  # a connection that is already broken closes as it can
        log.debug("queue_link_close_failed", exc_info=True)


def _reason(exc: BaseException, target: QueueTarget) -> str:
    """Why a publish failed, for the attempt log, with no password in it."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    text = f"{type(exc).__name__}: {exc}"
    if target.password:
        text = text.replace(target.password, "***")
    return text[:300]


def _host_literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


async def _quiet(exc: Exception) -> None:
    """nats-py reports connection errors here besides raising them: they are raised."""
