"""One error shape for every refusal: ``{"error": {"code", "message", "field"}}``.

Engine errors map to 4xx here, FastAPI's own parameter validation becomes a 422 in the same
shape, and anything unexpected is a 500 that is logged but never echoes internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from freshrec.errors import (
    ConflictError,
    EngineClosedError,
    EngineDegradedError,
    FreshrecError,
    NotFoundError,
    StoreUnavailableError,
    UnknownItemError,
    UnknownScenarioError,
    ValidationError,
)

log = logging.getLogger(__name__)

# Messages can quote client input (an unknown event type, say); keep responses bounded.
MAX_MESSAGE_CHARS = 500
# Path/query/body markers FastAPI puts first in an error location.
_LOCATIONS = frozenset({"path", "query", "header", "cookie", "body"})


class ApiError(Exception):
    """A refusal with an HTTP status, raised from routes and dependencies.

    Args:
        status: the HTTP status code (4xx for anything the client can fix).
        code: a stable machine-readable reason, e.g. ``"payload_too_large"``.
        message: what went wrong, for a human.
        field: the request field at fault, when there is one.
        headers: extra response headers (``WWW-Authenticate`` on a 401).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """Return the JSON error document; ``message`` is truncated to 500 characters."""
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Return a JSON response holding the error document."""
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in _LOCATIONS)]
    return ".".join(parts) or None


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    return error_response(400, "invalid", exc.message, exc.field)


async def _unknown_item(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UnknownItemError)
    return error_response(404, "unknown_item", str(exc), "item_id")


async def _unknown_scenario(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UnknownScenarioError)
    return error_response(400, "unknown_scenario", str(exc), "scenario")


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotFoundError)
    return error_response(404, "not_found", exc.message, exc.field)


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConflictError)
    return error_response(409, "conflict", exc.message, exc.field)


# How long a client should wait before retrying a write the store could not commit.
RETRY_AFTER_SECONDS = 5


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    """503 with ``Retry-After``: a write was refused, nothing of it was acknowledged."""
    codes = {
        StoreUnavailableError: "store_unavailable",
        EngineDegradedError: "degraded",
        EngineClosedError: "closed",
    }
    code = next(c for kind, c in codes.items() if isinstance(exc, kind))
    log.error("write refused (%s): %s", code, exc)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return error_response(503, code, f"not written: {exc}", None, headers)


async def _other_freshrec_error(_: Request, exc: Exception) -> JSONResponse:
    log.error("engine error: %s", exc)
    return error_response(503, "unavailable", "the engine could not complete the request")


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    field = _field_of(first.get("loc", ()))
    message = str(first.get("msg", "invalid request"))
    return error_response(422, "invalid", message, field)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, str(exc.detail), None, headers)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error while serving a request", exc_info=exc)
    return error_response(500, "internal", "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    """Register every exception handler on ``app`` (most specific first)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(UnknownItemError, _unknown_item)
    app.add_exception_handler(UnknownScenarioError, _unknown_scenario)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(ConflictError, _conflict)
    for refused in (StoreUnavailableError, EngineDegradedError, EngineClosedError):
        app.add_exception_handler(refused, _unavailable)
    app.add_exception_handler(FreshrecError, _other_freshrec_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
