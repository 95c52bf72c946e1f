"""Every error the sandbox sends is JSON ``{"error": REASON, "message": DETAIL}``."""

from __future__ import annotations

import logging
import sqlite3
from http import HTTPStatus
from typing import Any

from botocore.exceptions import ClientError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from alloy_nb.sandbox._sqlite import DiskFull, is_disk_full
from alloy_nb.sandbox._storage import StorageUnavailable

log = logging.getLogger("alloy_nb.sandbox")

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    s: {
        "description": HTTPStatus(s).phrase,
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    }
    for s in (400, 401, 403, 404, 408, 409, 413, 415, 502, 503, 507)
}


class HTTPProblem(Exception):
    """Raised by the sandbox's handlers; becomes a JSON error response.

    Named apart from the client's ``alloy_nb.APIError``: that one is what a caller receives,
    this one is what the sandbox sends.
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": HTTPStatus(status).phrase, "message": message}, status, headers=headers
    )


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


_FIELD_PROBLEMS = {
    "missing": "is required",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "string_too_long": "is too long",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "greater_than_equal": "is too small",
    "less_than_equal": "is too large",
    "dict_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
}


def describe_validation(exc: RequestValidationError, content_type: str) -> tuple[int, str]:
    """Turn pydantic's first complaint into (status, a message naming the field and the fix)."""
    errors: list[dict[str, Any]] = list(exc.errors())
    first: dict[str, Any] = (
        errors[0] if errors else {"type": "", "loc": ("body",), "msg": "invalid request"}
    )
    loc = tuple(str(p) for p in first.get("loc", ()))
    kind = str(first.get("type", ""))
    if loc[:1] == ("body",):
        if not is_json(content_type) and loc == ("body",) and kind != "missing":
            return 415, (
                f"Content-Type must be application/json (got {content_type or 'none'}); "
                "send the body as JSON with 'Content-Type: application/json'"
            )
        if kind == "json_invalid":
            ctx: dict[str, Any] = first.get("ctx") or {}
            return 400, f"request body is not valid JSON: {ctx.get('error', '')}"
        if loc == ("body",):
            if kind == "missing":
                return 400, "request body is required: send a JSON object"
            return 400, "request body must be a JSON object"
    where = {"body": "field", "query": "query parameter", "path": "path parameter"}.get(
        loc[0] if loc else "", "parameter"
    )
    name = ".".join(loc[1:]) or "body"
    if kind == "value_error":
        ctx_error = (first.get("ctx") or {}).get("error")
        problem = str(ctx_error) if ctx_error else "is invalid"
    else:
        problem = _FIELD_PROBLEMS.get(kind, str(first.get("msg", "is invalid")).lower())
    return 400, f"{where} '{name}' {problem}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPProblem)
    async def _problem(request: Request, exc: HTTPProblem) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = describe_validation(exc, request.headers.get("content-type", ""))
        return error_response(status, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and message == "Not Found":
            message = f"no endpoint {request.method} {request.url.path}"
        return error_response(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(StorageUnavailable)
    async def _storage(request: Request, exc: StorageUnavailable) -> JSONResponse:
        log.warning("storage unavailable: %s", exc)
        return error_response(
            503, f"file storage is unavailable, retry later ({exc})", {"Retry-After": "2"}
        )

    @app.exception_handler(ClientError)
    async def _storage_refused(request: Request, exc: ClientError) -> JSONResponse:
        code = exc.response.get("Error", {}).get("Code", "error")
        log.warning("storage refused a request: %s", code)
        return error_response(502, f"file storage refused the request ({code})")

    @app.exception_handler(DiskFull)
    @app.exception_handler(sqlite3.OperationalError)
    async def _disk_full(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, DiskFull) and not is_disk_full(exc):
            raise exc  # not about space: the catch-all below answers it
        where = exc.path if isinstance(exc, DiskFull) else "its data directory"
        log.error("disk full on %s %s: %s", request.method, request.url.path, exc)
        return error_response(
            507,
            f"the sandbox's data disk is full (no space to write {where}): free disk "
            "space, then retry",
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        # The server drops the connection after an unhandled error: say so to the client.
        return error_response(
            500, "internal error in the sandbox; see its log", {"Connection": "close"}
        )
