"""worker.signing against the receivers' own libraries, for any id, timestamp, body and secret.

Receivers verify batchhook's webhooks with ``standardwebhooks`` and with the ``openai`` SDK
(``client.webhooks.unwrap``); both must accept what batchhook signs and reject any change to
it, and ``worker.signing.verify`` (used on providers' inbound webhooks) must agree with them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string
import time

import openai
import pytest
import standardwebhooks
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from tests.property._support import PROPERTY_SETTINGS
from worker import signing

pytestmark = pytest.mark.property

OPENAI = openai.OpenAI(api_key="unused", webhook_secret=signing.new_secret())

SECRETS = st.binary(min_size=16, max_size=64).map(
    lambda key: "whsec_" + base64.b64encode(key).decode()
)
# What a header can carry: printable ASCII without spaces (Standard Webhooks ids are like that).
MSG_IDS = st.text(
    alphabet=string.ascii_letters + string.digits + string.punctuation, min_size=1, max_size=40
)
SKEWS = st.integers(min_value=-200, max_value=200)  # well inside the 300 s tolerance
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=15,
)


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    value = draw(JSON)
    ascii_only = draw(st.booleans())
    compact = draw(st.booleans())
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(value, ensure_ascii=ascii_only, separators=separators).encode()


@st.composite
def event_bodies(draw: st.DrawFn) -> bytes:
    """Shaped like batchhook's (and OpenAI's) batch.* events, with random data."""
    data = draw(st.dictionaries(st.text(max_size=8), JSON, max_size=4))
    data["id"] = draw(st.text(min_size=1, max_size=20))
    event = {
        "id": draw(MSG_IDS),
        "object": "event",
        "type": draw(st.sampled_from(["batch.completed", "batch.failed", "batch.expired"])),
        "created_at": draw(st.integers(min_value=0, max_value=2**31)),
        "data": data,
    }
    return json.dumps(event, ensure_ascii=draw(st.booleans())).encode()


def oracle_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks signature, computed here from the specification alone."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def accepted_by_standardwebhooks(secret: str, headers: dict[str, str], body: bytes) -> bool:
    try:
        standardwebhooks.Webhook(secret).verify(body, headers)
    except Exception:  # the library raises several kinds on malformed input: all reject
        return False
    return True


def accepted_by_openai(secret: str, headers: dict[str, str], body: bytes) -> bool:
    try:
        OPENAI.webhooks.verify_signature(body, headers, secret=secret)
    except Exception:  # InvalidWebhookSignatureError, or a decode error on a tampered body
        return False
    return True


def accepted_by_us(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    try:
        signing.verify(secret, headers, body, now=now)
    except signing.InvalidSignature:
        return False
    return True


# --- batchhook's signature verifies everywhere ----------------------------------------------


@given(secret=SECRETS, msg_id=MSG_IDS, skew=SKEWS, body=json_bodies())
@settings(PROPERTY_SETTINGS, max_examples=150)
def test_signatures_verify_with_standardwebhooks_openai_and_ourselves(
    secret: str, msg_id: str, skew: int, body: bytes
) -> None:
    now = int(time.time())
    headers = signing.webhook_headers([secret], msg_id, now + skew, body)

    assert headers["webhook-signature"] == oracle_signature(secret, msg_id, str(now + skew), body)
    assert standardwebhooks.Webhook(secret).verify(body, headers) == json.loads(body)
    OPENAI.webhooks.verify_signature(body, headers, secret=secret)
    signing.verify(secret, headers, body, now=now)


@given(secret=SECRETS, msg_id=MSG_IDS, skew=SKEWS, body=event_bodies())
@settings(PROPERTY_SETTINGS, max_examples=75)
def test_openai_unwraps_any_signed_event(secret: str, msg_id: str, skew: int, body: bytes) -> None:
    now = int(time.time())
    headers = signing.webhook_headers([secret], msg_id, now + skew, body)

    event = OPENAI.webhooks.unwrap(body, headers, secret=secret)

    assert event.type == json.loads(body)["type"]
    assert event.data.to_dict()["id"] == json.loads(body)["data"]["id"]


@given(
    secret=SECRETS,
    msg_id=MSG_IDS,
    timestamp=st.integers(min_value=0, max_value=2**40),
    body=st.binary(max_size=300),
)
@settings(PROPERTY_SETTINGS, max_examples=150)
def test_any_bytes_are_signed_per_the_specification(
    secret: str, msg_id: str, timestamp: int, body: bytes
) -> None:
    signature = signing.sign(secret, msg_id, timestamp, body)

    assert signature == oracle_signature(secret, msg_id, str(timestamp), body)
    headers = signing.webhook_headers([secret], msg_id, timestamp, body)
    signing.verify(secret, headers, body, now=timestamp)


# --- any change is rejected ---------------------------------------------------------------


@given(
    secret=SECRETS,
    msg_id=MSG_IDS,
    skew=st.integers(min_value=-50, max_value=50),
    body=json_bodies(),
    data=st.data(),
)
@settings(PROPERTY_SETTINGS, max_examples=150)
def test_changing_any_byte_of_the_body_or_the_id_or_the_timestamp_is_rejected(
    secret: str, msg_id: str, skew: int, body: bytes, data: st.DataObject
) -> None:
    now = int(time.time())
    timestamp = now + skew
    headers = signing.webhook_headers([secret], msg_id, timestamp, body)
    what = data.draw(st.sampled_from(["body", "id", "timestamp"]))
    tampered_body, tampered = body, dict(headers)
    if what == "body":
        index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
        flip = data.draw(st.integers(min_value=1, max_value=255))
        changed = bytearray(body)
        changed[index] ^= flip
        tampered_body = bytes(changed)
    elif what == "id":
        other = data.draw(MSG_IDS.filter(lambda candidate: candidate != msg_id))
        tampered["webhook-id"] = other
    else:
        shift = data.draw(st.integers(min_value=-150, max_value=150).filter(bool))
        tampered["webhook-timestamp"] = str(timestamp + shift)

    assert not accepted_by_standardwebhooks(secret, tampered, tampered_body), what
    assert not accepted_by_openai(secret, tampered, tampered_body), what
    assert not accepted_by_us(secret, tampered, tampered_body, now), what


@given(secret=SECRETS, other=SECRETS, msg_id=MSG_IDS, body=json_bodies())
@settings(PROPERTY_SETTINGS, max_examples=75)
def test_another_secret_is_rejected(secret: str, other: str, msg_id: str, body: bytes) -> None:
    assume(base64.b64decode(secret[6:]) != base64.b64decode(other[6:]))
    now = int(time.time())
    headers = signing.webhook_headers([secret], msg_id, now, body)

    assert not accepted_by_standardwebhooks(other, headers, body)
    assert not accepted_by_openai(other, headers, body)
    assert not accepted_by_us(other, headers, body, now)


# --- rotation: two signatures, either secret verifies ----------------------------------------


@given(new=SECRETS, old=SECRETS, third=SECRETS, msg_id=MSG_IDS, skew=SKEWS, body=json_bodies())
@settings(PROPERTY_SETTINGS, max_examples=100)
def test_during_rotation_either_secret_verifies_and_no_other(
    new: str, old: str, third: str, msg_id: str, skew: int, body: bytes
) -> None:
    keys = {base64.b64decode(s[6:]) for s in (new, old, third)}
    assume(len(keys) == 3)
    now = int(time.time())
    headers = signing.webhook_headers([new, old], msg_id, now + skew, body)

    assert headers["webhook-signature"].split(" ") == [
        signing.sign(new, msg_id, now + skew, body),
        signing.sign(old, msg_id, now + skew, body),
    ]
    for secret in (new, old):
        assert accepted_by_standardwebhooks(secret, headers, body)
        assert accepted_by_openai(secret, headers, body)
        assert accepted_by_us(secret, headers, body, now)
    assert not accepted_by_standardwebhooks(third, headers, body)
    assert not accepted_by_openai(third, headers, body)
    assert not accepted_by_us(third, headers, body, now)


# --- verify agrees with standardwebhooks, valid and invalid -------------------------------------


@st.composite
def received_webhooks(draw: st.DrawFn) -> tuple[str, dict[str, str], bytes, int]:
    """A secret and a webhook as received: well formed, signed right or in one of many wrong
    ways, with a timestamp near now or far from it."""
    secret = draw(SECRETS)
    other = draw(SECRETS)
    body = draw(json_bodies())
    msg_id = draw(MSG_IDS)
    now = int(time.time())
    timestamp = now + draw(
        st.one_of(
            SKEWS,
            st.integers(min_value=400, max_value=10**7),
            st.integers(min_value=-(10**7), max_value=-400),
        )
    )
    signed_id = draw(st.one_of(st.just(msg_id), MSG_IDS))
    signed_ts = draw(st.one_of(st.just(timestamp), st.integers(0, 2**33)))
    signed_body = draw(st.one_of(st.just(body), json_bodies()))

    def part() -> str:
        kind = draw(st.sampled_from(["ours", "other_secret", "random", "v2"]))
        if kind == "ours":
            return signing.sign(secret, signed_id, signed_ts, signed_body)
        if kind == "other_secret":
            return signing.sign(other, signed_id, signed_ts, signed_body)
        random_sig = base64.b64encode(draw(st.binary(min_size=32, max_size=32))).decode()
        return ("v1," if kind == "random" else "v2,") + random_sig

    parts = [part() for _ in range(draw(st.integers(min_value=1, max_value=3)))]
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": draw(
            st.one_of(st.just(str(timestamp)), st.sampled_from(["", "soon", "-", "12ab"]))
        ),
        "webhook-signature": " ".join(parts),
    }
    for name in draw(st.sets(st.sampled_from(sorted(headers)), max_size=1)):
        del headers[name]
    if draw(st.booleans()):
        headers = {name.title(): value for name, value in headers.items()}
    return secret, headers, body, now


@given(received=received_webhooks())
@settings(PROPERTY_SETTINGS, max_examples=300)
def test_verify_agrees_with_standardwebhooks(
    received: tuple[str, dict[str, str], bytes, int],
) -> None:
    secret, headers, body, now = received

    ours = accepted_by_us(secret, headers, body, now)
    event("accepted" if ours else "rejected")

    assert ours == accepted_by_standardwebhooks(secret, headers, body), headers
    assert ours == accepted_by_openai(secret, headers, body), headers


HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


@given(
    secret=SECRETS,
    msg_id=HEADER_TEXT,
    timestamp=st.one_of(HEADER_TEXT, st.integers(-(10**300), 10**300).map(str)),
    signature=st.one_of(
        HEADER_TEXT, st.lists(HEADER_TEXT, max_size=4).map(" ".join), st.just("v1,")
    ),
    body=st.binary(max_size=200),
    now=st.integers(min_value=0, max_value=2**34),
)
@settings(PROPERTY_SETTINGS, max_examples=300)
def test_verify_accepts_exactly_a_matching_v1_signature_and_raises_nothing_else(
    secret: str, msg_id: str, timestamp: str, signature: str, body: bytes, now: int
) -> None:
    """Sound against an oracle on any printable-ASCII headers: it accepts only when one of
    the space-separated parts is the specification's signature and the time is within 300 s."""
    headers = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}

    ours = accepted_by_us(secret, headers, body, float(now))

    if ours:
        assert msg_id and timestamp and signature
        assert abs(now - int(timestamp)) <= signing.DEFAULT_TOLERANCE_S
        expected = oracle_signature(secret, msg_id, str(int(timestamp)), body)
        assert expected in signature.split()


LATIN1_NOT_ASCII = st.characters(min_codepoint=0x80, max_codepoint=0xFF)


@given(
    secret=SECRETS,
    value=st.text(alphabet=LATIN1_NOT_ASCII, min_size=1, max_size=10),
)
@settings(PROPERTY_SETTINGS, max_examples=20, report_multiple_bugs=False)
def test_verify_rejects_a_non_ascii_signature_with_invalid_signature(
    secret: str, value: str
) -> None:
    now = int(time.time())
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(now),
        "webhook-signature": "v1," + value,
    }

    assert not accepted_by_us(secret, headers, b"{}", now)


@given(secret=SECRETS, timestamp=st.integers(min_value=10**309, max_value=10**4000))
@settings(PROPERTY_SETTINGS, max_examples=20, report_multiple_bugs=False)
def test_verify_rejects_a_huge_timestamp_with_invalid_signature(
    secret: str, timestamp: int
) -> None:
    for value in (str(timestamp), str(-timestamp)):
        headers = {"webhook-id": "evt_1", "webhook-timestamp": value, "webhook-signature": "v1,x"}
        assert not accepted_by_us(secret, headers, b"{}", time.time())
