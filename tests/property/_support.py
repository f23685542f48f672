"""Shared pieces of the property-based runs."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings

# Bounded and reproducible: the same examples on every run and every machine.
PROPERTY_SETTINGS = settings(
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def error_body_problem(status: int, body: Any) -> str | None:
    """Why an error answer does not have the contract's body, or None when it does."""
    if status < 400:
        return None
    if not isinstance(body, dict) or set(body) != {"error"}:
        return f"{status} answered {body!r}, not {{'error': {{...}}}}"
    error = body["error"]
    if not isinstance(error, dict):
        return f"{status}: error is {error!r}"
    if not isinstance(error.get("type"), str) or not error["type"]:
        return f"{status}: error.type is {error.get('type')!r}"
    if not isinstance(error.get("message"), str) or not error["message"]:
        return f"{status}: error.message is {error.get('message')!r}"
    return None
