"""How an event's body is kept in its hash: deflated against a preset dictionary of the
event's own shape, in base64, cut into fields of at most ``BODY_CHUNK`` characters.

Redis keeps a hash whose every value is 64 bytes or less in its compact listpack
encoding (``hash-max-listpack-value``); one long ``body`` field turns the whole event hash
into a hashtable, about twice the size. ``create_event`` in ``_events.lua`` writes the
packed body as ``body:1`` .. ``body:n``; ``body_of`` puts them back together. Events
stored before read as they were: one ``body`` field, plain JSON or ``z:`` (deflated, no
dictionary).
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping

BODY_CHUNK = 64  # characters per body field; _events.lua cuts at the same length
BODY_FIELD = "body:"  # body:1, body:2, ... in order

DEFLATED = "z:"  # zlib, no dictionary (events stored before the dictionary)
DEFLATED_WITH_SHAPE = "d1:"  # raw deflate against SHAPE_V1, in base64

# Never change SHAPE_V1: bodies stored with it can only be read with it. A better
# dictionary gets a new prefix (d2:) and unpack_body reads both.
SHAPE_V1 = (
    b'"type":"message_batch","processing_status":"ended","results_url":null,'
    b'"archived_at":null,"cancel_initiated_at":null,"ended_at":null,'
    b'"request_counts":{"processing":0,"succeeded":0,"errored":0,"canceled":0,"expired":0},'
    b'"usage":{"input_tokens":0,"output_tokens":0,"total_tokens":0},'
    b'"model":null,"output_expires_at":null,"failed_at":null,"expired_at":null,'
    b'"cancelling_at":null,"cancelled_at":null,"finalizing_at":null,'
    b'"error":{"message":"","status_code":null},"endpoint_id":"ep_","url":"https://",'
    b'"reason":"","disabled_at":17,"test":true,"succeeded_share":1.0,'
    b'"type":"batch.progress","type":"batch.expiring","type":"batch.stalled",'
    b'"type":"batch.resumed","type":"batch.completed","type":"batch.failed",'
    b'"progress":{"completed":0,"failed":0,"total":0,"percent":0.0},'
    b'"request_rate_per_s":null,"estimated_completion_at":null,"expires_at":17,'
    b'{"id":"evt_","object":"event","type":"batch.in_progress","created_at":17,'
    b'"data":{"id":"batch_","status":"in_progress","normalized_status":"in_progress",'
    b'"previous_status":null,"output_file_id":null,"error_file_id":null,'
    b'"request_counts":{"total":0,"completed":0,"failed":0},"provider":"openai",'
    b'"connection_id":"conn_","metadata":{},"duration_s":0.0,'
    b'"batch":{"id":"batch_","object":"batch","endpoint":"/v1/chat/completions",'
    b'"errors":null,"input_file_id":"file-","completion_window":"24h",'
    b'"status":"in_progress","output_file_id":null,"error_file_id":null,'
    b'"created_at":17,"in_progress_at":17,"expires_at":17,"completed_at":null,'
    b'"request_counts":{"total":0,"completed":0,"failed":0},"metadata":{}}}}'
)


def pack_body(body: str) -> str:
    """The body as its event hash keeps it (a batch event's 820 B of JSON: 190)."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, SHAPE_V1)
    packed = deflate.compress(body.encode()) + deflate.flush()
    return DEFLATED_WITH_SHAPE + base64.b64encode(packed).decode()


def unpack_body(stored: str) -> str:
    """The body as it was made, from what ``pack_body`` (or an older event) stored."""
    if stored.startswith(DEFLATED_WITH_SHAPE):
        inflate = zlib.decompressobj(-15, zdict=SHAPE_V1)
        packed = base64.b64decode(stored[len(DEFLATED_WITH_SHAPE) :])
        return (inflate.decompress(packed) + inflate.flush()).decode()
    if stored.startswith(DEFLATED):
        return zlib.decompress(base64.b64decode(stored[len(DEFLATED) :])).decode()
    return stored


def stored_body(raw: Mapping[str, str]) -> str | None:
    """The packed body of an event hash read whole: its ``body:n`` fields joined, or the
    one ``body`` field of an event stored before; None when the hash holds none."""
    if "body" in raw:
        return raw["body"]
    chunks: list[str] = []
    while (chunk := raw.get(f"{BODY_FIELD}{len(chunks) + 1}")) is not None:
        chunks.append(chunk)
    return "".join(chunks) if chunks else None


def body_of(raw: Mapping[str, str]) -> str | None:
    """The body of an event hash read whole, as it was made; None when it has none."""
    stored = stored_body(raw)
    return unpack_body(stored) if stored is not None else None
