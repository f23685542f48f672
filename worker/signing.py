"""Standard Webhooks signing and verification (https://www.standardwebhooks.com).

Pure functions: the signature is ``v1,`` + base64(HMAC-SHA256(key, "{id}.{ts}.{body}"))
where the key is the base64 part of a ``whsec_`` secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping

from worker.errors import InputError
from worker.errors import InvalidSignature as InvalidSignature  # signing.InvalidSignature

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
DEFAULT_TOLERANCE_S = 300
TIMESTAMP = re.compile(r"[0-9]{1,15}")  # Unix seconds, digits only: far from overflowing


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_bytes(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise InputError("a webhook secret is 'whsec_' followed by base64") from exc
    if len(key) < 16:
        raise InputError("a webhook secret must hold at least 16 bytes")
    return key


def is_valid_secret(secret: str) -> bool:
    try:
        secret_bytes(secret)
    except InputError:
        return False
    return secret.startswith(SECRET_PREFIX)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature per valid secret, space-separated (the current secret first)."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets_)


def webhook_headers(
    secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Raise InvalidSignature unless one of the signatures was made with ``secret``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    raw_ts = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and raw_ts and signatures):
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    if not TIMESTAMP.fullmatch(raw_ts):
        raise InvalidSignature("webhook-timestamp is not Unix seconds")
    timestamp = int(raw_ts)
    if abs(now - timestamp) > tolerance_s:
        raise InvalidSignature("webhook-timestamp is outside the tolerance")
    expected = sign(secret, msg_id, timestamp, body).partition(",")[2]
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return
    raise InvalidSignature("no signature matches the secret")
