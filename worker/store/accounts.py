"""Tokens, connections and endpoints: what a tenant sets up before watching batches."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from worker import keys
from worker.destinations import has_credentials, masked_url
from worker.errors import Conflict, NotFound
from worker.models import ENDPOINT_OPTIONS, Connection, Discovery, Endpoint, Watch
from worker.store import connection_activity
from worker.store.base import Page, dumps, float_or_none, loads_or, page_of
from worker.store.watches import WatchesMixin, watch_from


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class AccountsMixin(WatchesMixin):
    """Connections and endpoints (deleting a connection stops its watches)."""

    def tenants(self) -> list[str]:
        return sorted(str(t) for t in self.redis.smembers(keys.TENANTS))

    # connections ------------------------------------------------------------
    def create_connection(
        self,
        tenant: str,
        *,
        provider: str,
        base_url: str,
        api_key: str,
        headers: dict[str, str],
        params: dict[str, Any] | None,
        webhook_secret: str | None,
        watch_all: bool,
    ) -> Connection:
        conn = Connection(
            id=new_id("conn"),
            tenant=tenant,
            provider=provider,
            base_url=base_url,
            api_key=api_key,
            headers=headers,
            params=params,
            created_at=time.time(),
            watch_all=watch_all,
            webhook_secret=webhook_secret,
        )
        fields = {
            "id": conn.id,
            "tenant": tenant,
            "provider": provider,
            "base_url": base_url,
            "api_key": self.vault.seal(api_key),
            "headers": self.vault.seal(dumps(headers)),
            "params": dumps(params) if params is not None else "",
            "webhook_secret": self.vault.seal(webhook_secret) if webhook_secret else "",
            "watch_all": int(watch_all),
            "created_at": conn.created_at,
        }
        pipe = self.redis.pipeline()
        pipe.hset(self.keys.connection(conn.id), mapping=fields)
        pipe.zadd(keys.tenant_connections(tenant), {conn.id: conn.created_at})
        if watch_all:
            pipe.zadd(keys.DISCOVER, {conn.id: conn.created_at})
        pipe.execute()
        return conn

    def schedule_discovery(self, connection_id: str, *, at: float) -> None:
        """The next list call of a watch_all connection (only while it still exists)."""
        self.redis.zadd(keys.DISCOVER, {connection_id: at}, xx=True)

    def stop_discovery(self, connection_id: str) -> None:
        self.redis.zrem(keys.DISCOVER, connection_id)

    def record_discovery(self, connection_id: str, found: Discovery) -> None:
        """A successful listing of a watch_all connection's account (kept for the
        retention; every round rewrites it)."""
        key = self.keys.connection_discovery(connection_id)
        pipe = self.redis.pipeline(transaction=False)
        fields = {"at": found.at, "listed": found.listed, "registered": found.registered}
        pipe.hset(key, mapping=fields)
        pipe.expire(key, self.retention_s)
        pipe.execute()

    def unwatched(self, tenant: str, batch_ids: list[str]) -> set[str]:
        """Which of these batches the tenant stopped watching within the retention."""
        if not batch_ids:
            return set()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zmscore(keys.tenant_unwatched(tenant), batch_ids)
        pipe.smismember(keys.tenant_unwatched_untimed(tenant), batch_ids)
        scores, untimed = pipe.execute()
        since = time.time() - self.retention_s
        return {
            batch_id
            for batch_id, at, flag in zip(batch_ids, scores, untimed, strict=True)
            if flag or (at is not None and float(at) >= since)
        }

    def _connection_from(self, raw: dict[str, str]) -> Connection:
        return Connection(
            id=raw["id"],
            tenant=raw["tenant"],
            provider=raw["provider"],
            base_url=raw["base_url"],
            api_key=self.vault.open(raw["api_key"]),
            headers=loads_or(self.vault.open(raw["headers"]), {}) if raw.get("headers") else {},
            params=loads_or(raw.get("params"), None),
            created_at=float(raw["created_at"]),
            watch_all=raw.get("watch_all") == "1",
            webhook_secret=self.vault.open(raw["webhook_secret"])
            if raw.get("webhook_secret")
            else None,
        )

    def connections_by_id(
        self, ids: set[str], *, tenant: str | None = None, with_activity: bool = False
    ) -> dict[str, Connection]:
        """The connections still there (of ``tenant`` only, when given); ``with_activity``:
        with their last discovery and 429 pauses (what the API shows), read in the same
        round trip."""
        pipe = self.redis.pipeline(transaction=False)
        ordered = sorted(ids)
        for cid in ordered:
            pipe.hgetall(self.keys.connection(cid))
            if with_activity:
                connection_activity.queue(pipe, self.keys, cid)
        answers = pipe.execute()
        step = (1 + connection_activity.QUEUED) if with_activity else 1
        now = time.time()
        found: dict[str, Connection] = {}
        for i, cid in enumerate(ordered):
            raw = answers[i * step]
            if not raw or tenant not in (None, raw.get("tenant")):
                continue
            conn = self._connection_from(raw)
            if with_activity:
                used = connection_activity.read(answers[i * step + 1 : (i + 1) * step], now)
                conn = replace(conn, activity=used)
            found[cid] = conn
        return found

    def connection_providers(self, ids: set[str]) -> dict[str, str]:
        """The provider of each connection still there (one round trip, nothing opened)."""
        pipe = self.redis.pipeline(transaction=False)
        ordered = sorted(ids)
        for cid in ordered:
            pipe.hget(self.keys.connection(cid), "provider")
        return {
            cid: str(provider)
            for cid, provider in zip(ordered, pipe.execute(), strict=True)
            if provider is not None
        }

    def get_connection(
        self, tenant: str, connection_id: str, *, with_activity: bool = False
    ) -> Connection:
        found = self.connections_by_id({connection_id}, tenant=tenant, with_activity=with_activity)
        if connection_id not in found:
            raise NotFound(f"no connection {connection_id!r}")
        return found[connection_id]

    def connection_and_watch(
        self, tenant: str, connection_id: str, batch_id: str
    ) -> tuple[Connection, Watch | None]:
        """The tenant's connection (``NotFound`` without it) and its watch of
        ``batch_id`` if any, in one round trip: what a registration checks first."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self.keys.connection(connection_id))
        pipe.hgetall(self.keys.watch(keys.watch_id(tenant, batch_id)))
        conn_raw, watch_raw = pipe.execute()
        if not conn_raw or conn_raw.get("tenant") != tenant:
            raise NotFound(f"no connection {connection_id!r}")
        return self._connection_from(conn_raw), watch_from(watch_raw) if watch_raw else None

    def list_connections(self, tenant: str) -> list[Connection]:
        """The tenant's connections, oldest first, with their activity."""
        ids = self.redis.zrange(keys.tenant_connections(tenant), 0, -1)
        found = self.connections_by_id(set(ids), tenant=tenant, with_activity=True)
        return [found[i] for i in ids if i in found]

    def page_connections(
        self, tenant: str, *, starting_after: str | None = None, limit: int = 100
    ) -> Page[Connection]:
        """The tenant's connections, oldest first, ``limit`` after ``starting_after``, with
        their activity."""

        def load(ids: list[str]) -> list[Connection]:
            found = self.connections_by_id(set(ids), tenant=tenant, with_activity=True)
            return [found[i] for i in ids if i in found]

        ids = [str(i) for i in self.redis.zrange(keys.tenant_connections(tenant), 0, -1)]
        return page_of(
            ids, starting_after=starting_after, limit=limit, load=load, what="connection"
        )

    def delete_connection(self, tenant: str, connection_id: str) -> None:
        conn = self.get_connection(tenant, connection_id)
        watching = [
            w.batch_id
            for w in self.list_watches(tenant)
            if w.connection_id == connection_id and w.watching
        ]
        if watching and not conn.watch_all:
            raise Conflict(
                f"connection {connection_id} still watches {len(watching)} batch(es); "
                "delete those batches first"
            )
        for batch_id in watching:  # a watch_all connection takes its discoveries with it
            self.delete_watch(tenant, batch_id, remember=False)
        pipe = self.redis.pipeline()
        ks = self.keys
        for key in (
            ks.connection(connection_id),
            ks.connection_pauses(connection_id),
            ks.connection_discovery(connection_id),
        ):
            pipe.delete(key)  # one key a command: a Cluster pipeline's rule
        pipe.zrem(keys.tenant_connections(tenant), connection_id)
        pipe.zrem(keys.DISCOVER, connection_id)
        pipe.execute()

    # endpoints --------------------------------------------------------------
    def create_endpoint(
        self,
        tenant: str,
        *,
        url: str,
        events: list[str],
        description: str,
        secret: str,
        rate_limit: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Endpoint:
        """``options``: by their API names (``models.ENDPOINT_OPTIONS``); unset: defaults."""
        now = time.time()
        ep = Endpoint(
            id=new_id("ep"),
            tenant=tenant,
            url=url,
            events=tuple(events),
            description=description,
            secret=secret,
            old_secret=None,
            old_secret_expires_at=None,
            disabled=False,
            disabled_reason="",
            created_at=now,
            rate_limit=rate_limit,
            **{ENDPOINT_OPTIONS[name]: value for name, value in (options or {}).items()},
        )
        pipe = self.redis.pipeline()
        pipe.hset(
            self.keys.endpoint(ep.id),
            mapping={
                "id": ep.id,
                "tenant": tenant,
                **self._url_fields(url),
                "events": dumps(events),
                "description": description,
                "secret": self.vault.seal(secret),
                "disabled": 0,
                "created_at": now,
                "rate_limit": rate_limit or "",
                **_option_fields(ep.options()),
            },
        )
        pipe.zadd(keys.tenant_endpoints(tenant), {ep.id: now})
        pipe.execute()
        return ep

    def _endpoint_from(self, raw: dict[str, str]) -> Endpoint:
        return Endpoint(
            id=raw["id"],
            tenant=raw["tenant"],
            url=self.vault.open(raw["sealed_url"]) if raw.get("sealed_url") else raw["url"],
            events=tuple(loads_or(raw.get("events"), [])),
            description=raw.get("description", ""),
            secret=self.vault.open(raw["secret"]),
            old_secret=self.vault.open(raw["old_secret"]) if raw.get("old_secret") else None,
            old_secret_expires_at=float_or_none(raw.get("old_secret_expires_at")),
            disabled=raw.get("disabled") == "1",
            disabled_reason=raw.get("disabled_reason", ""),
            created_at=float(raw["created_at"]),
            rate_limit=int(raw["rate_limit"]) if raw.get("rate_limit") else None,
            **_options_from(raw),
        )

    def _url_fields(self, url: str) -> dict[str, str]:
        """A URL with credentials in it (a queue's) is kept sealed, and masked in ``url``."""
        if not has_credentials(url):
            return {"url": url, "sealed_url": ""}
        return {"url": masked_url(url), "sealed_url": self.vault.seal(url)}

    def endpoints_by_id(self, ids: list[str]) -> dict[str, Endpoint]:
        pipe = self.redis.pipeline(transaction=False)
        for eid in ids:
            pipe.hgetall(self.keys.endpoint(eid))
        return {
            eid: self._endpoint_from(raw)
            for eid, raw in zip(ids, pipe.execute(), strict=True)
            if raw
        }

    def get_endpoint(self, tenant: str, endpoint_id: str) -> Endpoint:
        raw = self.redis.hgetall(self.keys.endpoint(endpoint_id))
        if not raw or raw.get("tenant") != tenant:
            raise NotFound(f"no endpoint {endpoint_id!r}")
        return self._endpoint_from(raw)

    def list_endpoints(self, tenant: str) -> list[Endpoint]:
        ids = [str(i) for i in self.redis.zrange(keys.tenant_endpoints(tenant), 0, -1)]
        found = self.endpoints_by_id(ids)
        return [found[i] for i in ids if i in found]

    def page_endpoints(
        self, tenant: str, *, starting_after: str | None = None, limit: int = 100
    ) -> Page[Endpoint]:
        """The tenant's endpoints, oldest first, ``limit`` after ``starting_after``."""

        def load(ids: list[str]) -> list[Endpoint]:
            found = self.endpoints_by_id(ids)
            return [found[i] for i in ids if i in found]

        ids = [str(i) for i in self.redis.zrange(keys.tenant_endpoints(tenant), 0, -1)]
        return page_of(ids, starting_after=starting_after, limit=limit, load=load, what="endpoint")

    def update_endpoint(self, tenant: str, endpoint_id: str, changes: dict[str, Any]) -> Endpoint:
        self.get_endpoint(tenant, endpoint_id)
        fields: dict[str, str | int] = {}
        for name, value in changes.items():
            if name == "events":
                fields["events"] = dumps(value)
            elif name == "disabled":
                fields["disabled"] = int(bool(value))
                fields["disabled_reason"] = "disabled by the API" if value else ""
            elif name == "rate_limit":
                fields["rate_limit"] = value or ""  # None: back to the default
            elif name in ENDPOINT_OPTIONS:
                fields.update(_option_fields({name: value}))
            elif name == "url":
                fields.update(self._url_fields(value))
            else:
                fields[name] = value
        if fields:
            self.redis.hset(self.keys.endpoint(endpoint_id), mapping=fields)
        return self.get_endpoint(tenant, endpoint_id)

    def disable_endpoint(self, endpoint_id: str, reason: str) -> None:
        self.redis.hset(
            self.keys.endpoint(endpoint_id), mapping={"disabled": 1, "disabled_reason": reason}
        )

    def rotate_endpoint_secret(
        self, tenant: str, endpoint_id: str, new_secret: str, *, grace_s: float
    ) -> Endpoint:
        current = self.get_endpoint(tenant, endpoint_id)
        self.redis.hset(
            self.keys.endpoint(endpoint_id),
            mapping={
                "secret": self.vault.seal(new_secret),
                "old_secret": self.vault.seal(current.secret),
                "old_secret_expires_at": time.time() + grace_s,
            },
        )
        return self.get_endpoint(tenant, endpoint_id)

    def delete_endpoint(self, tenant: str, endpoint_id: str) -> None:
        self.get_endpoint(tenant, endpoint_id)
        pipe = self.redis.pipeline()
        pipe.delete(self.keys.endpoint(endpoint_id))
        pipe.zrem(keys.tenant_endpoints(tenant), endpoint_id)
        pipe.execute()


def _option_fields(options: Mapping[str, Any]) -> dict[str, int | str]:
    """Options by their API names as the endpoint hash keeps them (whole numbers, and
    the body format's name)."""
    return {
        ENDPOINT_OPTIONS[name]: value if isinstance(value, str) else int(value)
        for name, value in options.items()
    }


def _options_from(raw: Mapping[str, str]) -> dict[str, Any]:
    """The options an endpoint hash holds (one made before them has the defaults)."""
    found: dict[str, Any] = {}
    for stored in ENDPOINT_OPTIONS.values():
        if raw.get(stored):
            found[stored] = raw[stored] if stored == "format" else int(raw[stored])
    if "include_results_summary" in found:
        found["include_results_summary"] = bool(found["include_results_summary"])
    return found
