"""Every API error answers ``{"error": {"type": ..., "message": ...}}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from worker.errors import BatchhookError, InputError, StoreUnavailable

log = structlog.get_logger()

HTTP_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_response(
    status_code: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": error_type, "message": message}},
        status_code=status_code,
        headers=headers,
    )


def _describe(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(InputError)
    async def _input_error(_: Request, exc: InputError) -> JSONResponse:
        return error_response(exc.status_code, exc.error_type, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request_error", _describe(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error_type = HTTP_ERROR_TYPES.get(exc.status_code, "api_error")
        return error_response(exc.status_code, error_type, str(exc.detail), exc.headers)

    @app.exception_handler(BatchhookError)
    async def _other(_: Request, exc: BatchhookError) -> JSONResponse:
        return error_response(500, "api_error", "internal error")

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_: Request, exc: StoreUnavailable) -> JSONResponse:
        """Redis unreachable: the call may not have been carried out; retrying is safe."""
        cause = exc.__cause__
        log.warning("redis_unavailable", error=type(cause or exc).__name__)
        return error_response(
            503,
            "service_unavailable",
            "storage unavailable, retry shortly",
            {"retry-after": str(exc.retry_after_s)},
        )
