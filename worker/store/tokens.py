"""API tokens: kept only as SHA-256 digests, listed by id, revocable, rate limited.

A request's token is looked up by its digest as a Redis key: the raw token is never
compared with anything, only its SHA-256 used as a key, so there is no byte-by-byte
comparison whose timing could leak a stored token (that is what stands in for a
constant-time compare), and no token is stored in clear. Tokens made before ids existed
(a digest key and no record) keep working; they are not listed but can be revoked by
the token itself.
"""

from __future__ import annotations

import secrets
import time

from worker import keys
from worker.records import frozen
from worker.store.base import StoreBase, float_or_none
from worker.store.scripts import Authenticated

TOKEN_PREFIX = "bh_"  # noqa: S105 - a prefix, not a token


@frozen
class TokenInfo:
    id: str
    tenant: str
    hint: str  # the token's last four characters
    created_at: float
    last_used_at: float | None


__all__ = ["Authenticated", "TokenInfo", "TokensMixin"]


class TokensMixin(StoreBase):
    def create_token(self, tenant: str) -> str:
        return self.create_token_with_id(tenant)[1]

    def create_token_with_id(self, tenant: str) -> tuple[str, str]:
        """A new token for ``tenant``: (its id, the token). Only its digest is kept."""
        raw = f"{TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
        token_id = f"tok_{secrets.token_hex(8)}"
        digest, now = keys.token_hash(raw), time.time()
        pipe = self.redis.pipeline()
        pipe.set(self.keys.token(digest), tenant)
        record = {"id": token_id, "tenant": tenant, "hash": digest, "hint": raw[-4:]}
        pipe.hset(keys.token_record(token_id), mapping={**record, "created_at": now})
        pipe.zadd(keys.TOKENS, {token_id: now})
        pipe.sadd(keys.TENANTS, tenant)
        pipe.execute()
        return token_id, raw

    def tenant_for_token(self, raw: str) -> str | None:
        return self.authenticate(raw, per_minute=0).tenant

    def authenticate(self, raw: str, *, per_minute: int, now: float | None = None) -> Authenticated:
        """The token's tenant and whether it is within its requests per minute: one round
        trip. An unknown token counts nothing and writes nothing."""
        digest = keys.token_hash(raw)
        at = time.time() if now is None else now
        return self.scripts.authenticate(digest, now=at, per_minute=per_minute)

    # the dashboard's sign-in without JavaScript -----------------------------------
    def open_dashboard_session(self, raw: str, *, ttl_s: int) -> str | None:
        """A new session id standing for the token ``raw`` (None for an unknown token).
        Only digests are kept: the session's, pointing at the token's."""
        digest = keys.token_hash(raw)
        if self.redis.get(self.keys.token(digest)) is None:
            return None
        session = secrets.token_urlsafe(32)
        self.redis.set(self.keys.dashboard_session(keys.token_hash(session)), digest, ex=ttl_s)
        return session

    def authenticate_dashboard_session(
        self, session: str, *, per_minute: int, now: float | None = None
    ) -> Authenticated:
        """The tenant of a dashboard session, counted as a request of its token: a revoked
        token ends its sessions at once."""
        digest = self.redis.get(self.keys.dashboard_session(keys.token_hash(session)))
        if digest is None:
            return Authenticated(None, 0)
        at = time.time() if now is None else now
        return self.scripts.authenticate(str(digest), now=at, per_minute=per_minute)

    def close_dashboard_session(self, session: str) -> None:
        self.redis.delete(self.keys.dashboard_session(keys.token_hash(session)))

    def list_tokens(self, tenant: str | None = None) -> list[TokenInfo]:
        ids = [str(i) for i in self.redis.zrange(keys.TOKENS, 0, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for token_id in ids:
            pipe.hgetall(keys.token_record(token_id))
        records = [r for r in pipe.execute() if r]
        reads = self.redis.pipeline(transaction=False)  # one slot per token: no MGET
        for r in records:
            reads.get(self.keys.token_last_used(r["hash"]))
        used = reads.execute()
        return [
            TokenInfo(
                id=r["id"],
                tenant=r["tenant"],
                hint=r["hint"],
                created_at=float(r["created_at"]),
                last_used_at=float_or_none(last),
            )
            for r, last in zip(records, used, strict=True)
            if tenant is None or r["tenant"] == tenant
        ]

    def revoke_token(self, id_or_token: str) -> str | None:
        """Revoke by id (``tok_...``) or by the token itself; the revoked token's id (or
        its digest's start, for a token made before ids), else None when unknown."""
        if id_or_token.startswith("tok_"):
            record = self.redis.hgetall(keys.token_record(id_or_token))
            if not record:
                return None
            digest, token_id = record["hash"], id_or_token
        else:
            digest = keys.token_hash(id_or_token)
            token_id = self._token_id_of(digest) or f"digest {digest[:12]}"
        pipe = self.redis.pipeline()
        pipe.delete(self.keys.token(digest))  # one key a command: a Cluster pipeline's rule
        pipe.delete(self.keys.token_last_used(digest))
        if token_id.startswith("tok_"):
            pipe.delete(keys.token_record(token_id))
            pipe.zrem(keys.TOKENS, token_id)
        deleted = pipe.execute()[0]
        return token_id if deleted else None

    def _token_id_of(self, digest: str) -> str | None:
        """The id whose record holds ``digest`` (one pipelined read; revoking is rare)."""
        ids = [str(i) for i in self.redis.zrange(keys.TOKENS, 0, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for token_id in ids:
            pipe.hget(keys.token_record(token_id), "hash")
        found = [i for i, h in zip(ids, pipe.execute(), strict=True) if h == digest]
        return found[0] if found else None
