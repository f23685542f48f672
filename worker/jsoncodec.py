"""JSON on the poll path: orjson where it can, the standard library where it cannot.

Every poll writes and reads its summary one JSON value per field and parses the
provider's answer; the standard library's per-call overhead was 11 % of a worker's CPU
at scale (bench/results/profile-scale.md).
"""

from __future__ import annotations

import json
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


def loads(raw: str | bytes) -> Any:
    """The value of a JSON text; raises ValueError when it is none."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # NaN, an int past 64 bits: what only json reads
        return json.loads(raw)
