"""JSON on the poll and delivery paths: orjson where it can, the standard library where
it cannot.

Every poll writes and reads its summary one JSON value per field and parses the
provider's answer; the standard library's per-call overhead was 11 % of a worker's CPU
at scale (bench/results/profile-scale.md). Every terminal event's body is read and
written again per attempt, to add its result links (bench/results/profile-fanout.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def dumps_sorted(value: Any) -> str:
    """Compact JSON with sorted keys (non-ASCII kept as UTF-8; a NaN or infinite float,
    which JSON has no word for, as null)."""
    try:
        return orjson.dumps(value, option=_SORTED).decode()
    except orjson.JSONEncodeError:  # an int past 64 bits, an unknown type: json decides
        return json.dumps(value, separators=(",", ":"), sort_keys=True)


def dumps_compact(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """Compact JSON, keys in their order (non-ASCII kept as UTF-8; a NaN or infinite
    float as null); ``default`` turns what JSON has no type for into what it has."""
    try:
        return orjson.dumps(value, default=default, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, default=default, separators=(",", ":"))


def loads(raw: str | bytes) -> Any:
    """The value of a JSON text; raises ValueError when it is none."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # NaN, an int past 64 bits: what only json reads
        return json.loads(raw)
