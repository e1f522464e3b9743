"""Typed exceptions for refusals and transport failures seen by the HTTP client.

Every refusal of the server (a 4xx or 5xx answer) is an ``ApiError`` carrying the response's
``status`` and its ``{"error": {"code", "message", "field"}}`` document; the subclass says
what kind of refusal it is. ``ApiValidationError`` is also a ``freshrec.ValidationError``, so
code written against the embedded ``Engine`` catches bad input the same way over HTTP.

>>> error = ApiValidationError(400, "invalid", "must not be empty", "item_id")
>>> isinstance(error, ValidationError), error.field
(True, 'item_id')
>>> str(error)
'HTTP 400 invalid: item_id: must not be empty'
"""

from __future__ import annotations

from typing import Any

import httpx

from freshrec.errors import FreshrecError, ValidationError

# Longest stretch of a non-JSON error body kept as the message (a proxy's HTML page, say).
_MAX_TEXT = 200


class ApiError(FreshrecError):
    """The server refused a request (any 4xx or 5xx answer).

    Attributes:
        status: the HTTP status code.
        code: the stable machine-readable reason, e.g. ``"unknown_item"`` or ``"forbidden"``.
        message: what went wrong, for a human.
        field: the request field at fault, or ``None``.
    """

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        Exception.__init__(self, message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"HTTP {self.status} {self.code}: {where}{self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.status, self.code, self.message, self.field))


class ApiValidationError(ApiError, ValidationError):
    """A 400 or 422: the request or a record in it is invalid; ``field`` names the culprit."""


class NotFoundError(ApiError, KeyError):
    """A 404: an unknown item, a user with neither a profile nor events, an unknown route."""


class AuthError(ApiError):
    """A 401 (missing or unknown API key) or a 403 (the key's scope does not allow this)."""


class ApiConnectionError(FreshrecError, ConnectionError):
    """No complete answer arrived: the connection failed, was cut, or timed out.

    Connection failures (refused, unreachable, dropped before any response) were retried
    before this is raised; ``attempts`` says how many times the request was sent. The
    ``httpx`` exception is chained as ``__cause__``.

    Attributes:
        attempts: how many times the request was tried.
    """

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.attempts))


def connection_error(
    method: str, url: httpx.URL, exc: Exception, attempts: int
) -> ApiConnectionError:
    """Return the ``ApiConnectionError`` for a transport failure of ``method url``."""
    kind = type(exc).__name__
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    detail = str(exc) or "no detail"
    return ApiConnectionError(f"{method} {url} failed after {tries}: {kind}: {detail}", attempts)


def error_from_response(response: httpx.Response) -> ApiError:
    """Return the typed exception for a refusal (status >= 400), read from its error body."""
    status = response.status_code
    code, message, field = _error_fields(response)
    if status in (400, 422):
        return ApiValidationError(status, code, message, field)
    if status == 404:
        return NotFoundError(status, code, message, field)
    if status in (401, 403):
        return AuthError(status, code, message, field)
    return ApiError(status, code, message, field)


def _error_fields(response: httpx.Response) -> tuple[str, str, str | None]:
    """Return ``(code, message, field)`` from an error body, or stand-ins when it has none."""
    fallback = response.reason_phrase or f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()[:_MAX_TEXT]
        return "http_error", text or fallback, None
    detail = body.get("error") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        return "http_error", fallback, None
    code = detail.get("code")
    message = detail.get("message")
    field = detail.get("field")
    return (
        code if isinstance(code, str) and code else "http_error",
        message if isinstance(message, str) and message else fallback,
        field if isinstance(field, str) else None,
    )
