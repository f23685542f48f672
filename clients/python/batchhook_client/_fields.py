"""Lenient readers of JSON fields, for ``from_dict``: a field missing or of another type
reads as the default, so an answer from a newer (or older) server never breaks parsing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JSON = Mapping[str, Any]


def text(d: JSON, key: str, default: str = "") -> str:
    value = d.get(key)
    return value if isinstance(value, str) else default


def opt_text(d: JSON, key: str) -> str | None:
    value = d.get(key)
    return value if isinstance(value, str) else None


def number(d: JSON, key: str) -> float | None:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def integer(d: JSON, key: str) -> int | None:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def flag(d: JSON, key: str, default: bool = False) -> bool:
    value = d.get(key)
    return value if isinstance(value, bool) else default


def opt_flag(d: JSON, key: str) -> bool | None:
    value = d.get(key)
    return value if isinstance(value, bool) else None


def mapping(d: JSON, key: str) -> dict[str, Any]:
    """An object field as a dict (empty when missing)."""
    value = d.get(key)
    return dict(value) if isinstance(value, Mapping) else {}


def opt_mapping(d: JSON, key: str) -> dict[str, Any] | None:
    value = d.get(key)
    return dict(value) if isinstance(value, Mapping) else None


def objects(d: JSON, key: str) -> list[JSON]:
    """The objects of a list field (anything else in it is skipped)."""
    value = d.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def texts(d: JSON, key: str) -> tuple[str, ...]:
    value = d.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


def opt_texts(d: JSON, key: str) -> tuple[str, ...] | None:
    return texts(d, key) if isinstance(d.get(key), list) else None
