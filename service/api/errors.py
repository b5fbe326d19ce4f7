"""Every error the API returns has one shape: ``{"error": {"code": ..., "message": ...}}``.

`VidgateError` codes (bad input, from pipelines) and the service's own codes map to HTTP statuses through
the one table of codes (`service.errors.ERRORS`); FastAPI's default 404/405/422 handlers are replaced so
they use the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.errors import VidgateError
from service.errors import ERRORS, http_status

log = logging.getLogger("vidgate.api")

# Stable code → HTTP status, from the one table of codes (service/errors.py, docs/errors.md).
STATUS_BY_CODE: dict[str, int] = {code: e.http for code, e in ERRORS.items() if e.http is not None}

RETRY_AFTER_S = {429: 5, 503: 10}


class ApiError(Exception):
    """An error the API answers with; ``status`` defaults from `STATUS_BY_CODE`."""

    def __init__(self, code: str, message: str, *, status: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or http_status(code)
        self.headers = dict(headers or {})


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code (see docs/api.md).", examples=["not_a_video"])
    message: str = Field(description="Human-readable explanation.", examples=["upload.bin: not a video file"])


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


_EXAMPLE_BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("bad_options", "budget must be a fraction in (0, 1], got 2.0"),
    401: ("unauthorized", "an API key is required (X-API-Key header or Authorization: Bearer)"),
    403: ("forbidden", "the API key is not valid"),
    404: ("not_found", "no such job"),
    409: ("job_not_finished", "the job is running; artifacts exist once it has succeeded"),
    413: ("file_too_large", "the upload exceeds the limit of 2147483648 bytes"),
    415: ("not_a_video", "upload.bin: not a video file (Invalid data found when processing input)"),
    416: ("range_not_satisfiable", "the requested range is outside the 48213 bytes"),
    422: ("validation_error", "query.top_k: Input should be greater than or equal to 1"),
    429: ("queue_full", "the queue holds 1000 jobs; retry later"),
    503: ("queue_unavailable", "the job queue cannot be reached"),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries (schema + example) for the given error statuses."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        code, message = _EXAMPLE_BY_STATUS[status]
        out[status] = {
            "model": ErrorBody,
            "description": code.replace("_", " "),
            "content": {"application/json": {"example": {"error": {"code": code, "message": message}}}},
        }
    return out


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if status in RETRY_AFTER_S:
        headers.setdefault("Retry-After", str(RETRY_AFTER_S[status]))
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def vidgate_status(exc: VidgateError) -> int:
    return http_status(exc.code)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Replace FastAPI's default handlers so every error has the one JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(VidgateError)
    async def _vidgate_error(request: Request, exc: VidgateError) -> JSONResponse:
        return error_response(vidgate_status(exc), exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "validation_error", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, "http_error"
        )
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        return error_response(exc.status_code, code, message, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"internal error ({type(exc).__name__})")
