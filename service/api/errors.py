"""Every error the API returns has one shape: ``{"error": {"code": ..., "message": ...}}``.

`VidgateError` codes (bad input, from pipelines) and the service's own codes map to HTTP statuses through
the one table of codes (`service.errors.ERRORS`); FastAPI's default 404/405/422 handlers are replaced so
they use the same shape, and a 405 lists every method of the path in ``Allow``. The OpenAPI document says
the same: each route names its error codes (`error_responses`), and every operation documents
``validation_error`` and ``internal_error`` in this shape (`document_errors`).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

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


# An example message for the codes a route documents; any other code shows its meaning from the table.
_EXAMPLES: dict[str, str] = {
    "bad_options": "budget: Input should be less than or equal to 1 (got '2.0')",
    "bad_request": "expected a file in field 'file'; the form has none",
    "bad_cursor": "the cursor is not one this API handed out; start from the first page and follow next_cursor",
    "upload_timeout": "no bytes arrived for 30 s; the upload was dropped",
    "unauthorized": "an API key is required (X-API-Key header or Authorization: Bearer)",
    "forbidden": "the API key is not valid",
    "not_found": "no such job",
    "job_not_finished": "the job is running; artifacts exist once it has succeeded",
    "job_finished": "the job is succeeded; there is nothing to cancel (DELETE removes it)",
    "file_too_large": "the upload exceeds the limit of 2147483648 bytes",
    "not_a_video": "upload.bin: not a video file (Invalid data found when processing input)",
    "range_not_satisfiable": "the requested range is outside the 48213 bytes",
    "validation_error": "query.limit: Input should be less than or equal to 200",
    "queue_full": "the queue holds 1000 jobs (limit 1000); retry later",
    "queue_unavailable": "the job queue cannot be reached (ConnectionError)",
    "internal_error": "internal error (KeyError)",
}
# The code a bare status stands for in `error_responses`.
_CODE_OF_STATUS: dict[int, str] = {400: "bad_options", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                                   408: "upload_timeout", 409: "job_not_finished", 413: "file_too_large",
                                   415: "not_a_video", 416: "range_not_satisfiable", 422: "validation_error",
                                   429: "queue_full", 500: "internal_error", 503: "queue_unavailable"}
# Statuses whose answer carries a header, as `error_response` and `check_key` send it.
_HEADERS_OF_STATUS: dict[int, dict[str, Any]] = {
    **{status: {"Retry-After": {"description": "Seconds to wait before retrying.", "required": True,
                                "schema": {"type": "integer"}}} for status in RETRY_AFTER_S},
    401: {"WWW-Authenticate": {"description": "Bearer", "required": True, "schema": {"type": "string"}}},
}

# What any route can answer besides its own errors: bad parameters (where it takes any) and bugs.
COMMON_ERRORS = ("validation_error", "internal_error")
# Routes behind an API key (when keys are configured).
AUTH_ERRORS = ("unauthorized", "forbidden")


def error_responses(*errors: int | str, model: type[BaseModel] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the given error codes (or bare statuses, each meaning its usual code).

    Codes of one status share one entry: the error body's schema (``model``, default `ErrorBody`), the
    codes and their meaning as the description, the first code as the example.
    """
    by_status: dict[int, list[str]] = {}
    for error in errors:
        code = _CODE_OF_STATUS[error] if isinstance(error, int) else error
        codes = by_status.setdefault(http_status(code), [])
        if code not in codes:
            codes.append(code)
    return {status: _entry(status, codes, model or ErrorBody) for status, codes in sorted(by_status.items())}


def _entry(status: int, codes: list[str], model: type[BaseModel]) -> dict[str, Any]:
    example = {"error": {"code": codes[0], "message": _EXAMPLES.get(codes[0], ERRORS[codes[0]].meaning)}}
    entry: dict[str, Any] = {
        "model": model,
        "description": "; ".join(f"`{code}`: {ERRORS[code].meaning}" for code in codes),
        "content": {"application/json": {"example": example}},
    }
    if status in _HEADERS_OF_STATUS:
        entry["headers"] = _HEADERS_OF_STATUS[status]
    return entry


def document_errors(app: FastAPI) -> None:
    """Every operation in the app's OpenAPI documents `COMMON_ERRORS` with the one error body (``validation_error``
    only where it takes parameters or a body).

    FastAPI documents its own validation answer (``HTTPValidationError``, a ``detail`` list) for routes with
    parameters; the API answers ``validation_error`` in the error shape instead, so that entry is replaced.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in {**body.pop("$defs", {}), "ErrorBody": body}.items():
            components.setdefault(name, definition)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
                common = COMMON_ERRORS if takes_input else ("internal_error",)
                for status, entry in error_responses(*common).items():
                    current = responses.get(str(status))
                    if current is None or "HTTPValidationError" in str(current.get("content")):
                        responses[str(status)] = _as_openapi(entry)
                    elif entry["description"] not in current.get("description", ""):  # the route's own codes first
                        current["description"] = f"{current.get('description')}; {entry['description']}"
        if "HTTPValidationError" not in str(schema.get("paths")):
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _as_openapi(entry: dict[str, Any]) -> dict[str, Any]:
    """A `error_responses` entry as it reads in the OpenAPI document (the model as a reference)."""
    content = {"schema": {"$ref": f"#/components/schemas/{entry['model'].__name__}"},
               **entry["content"]["application/json"]}
    out = {"description": entry["description"], "content": {"application/json": content}}
    if "headers" in entry:
        out["headers"] = entry["headers"]
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


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on the request's path (Starlette's own 405 names only the first route's)."""
    routes = request.app.router.routes
    return [method for method in _METHODS
            if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)]


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
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {headers['Allow']}"
        return error_response(exc.status_code, code, message, headers)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"internal error ({type(exc).__name__})")
