"""Route guards: which key scopes may call which routes.

``admin`` may call everything; each guard names the other scopes it also lets through.
A missing, malformed or unknown key is a 401; a valid key of the wrong scope is a 403.
Each 401 says what was wrong and what to send instead (no key, a key in ``X-API-Key``, a key
without ``Bearer``, an unknown key): "401 unauthorized" alone sent people guessing.

Only the ``Authorization`` header is read here: the dashboard's sign-in cookie is accepted
by the dashboard's own pages only, so a signed-in browser gives other sites nothing to use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers

from freshrec.serving.auth import KEY_PREFIX, KeyRefusedError, Scope, UnknownKeyError
from freshrec.serving.context import ServingContext, context_of
from freshrec.serving.errors import ApiError

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `freshrec keys create`: `Authorization: Bearer fr_<id>_<secret>`.",
)
# Declared for the OpenAPI document (Swagger UI's "Authorize" button); the header itself is
# read by ``authorize``, which tells the ways of getting it wrong apart.
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
SEND = "send `Authorization: Bearer <key>` (a key from `freshrec keys create`)"


def _unauthorized(message: str, field: str) -> ApiError:
    return ApiError(401, "unauthorized", message, field, headers={"WWW-Authenticate": "Bearer"})


def presented_key(headers: Headers) -> str:
    """Return the key of an ``Authorization: Bearer <key>`` header.

    Raises:
        ApiError: 401 with a message for each way of not sending one: no header, the key in
            ``X-API-Key``, a value without the ``Bearer`` prefix, ``Bearer`` and no key.
    """
    value = headers.get("authorization")
    if value is None:
        if headers.get("x-api-key") is not None:
            raise _unauthorized(
                "keys go in `Authorization: Bearer <key>`, not X-API-Key", "X-API-Key"
            )
        raise _unauthorized(f"missing API key: {SEND}", "Authorization")
    scheme, _, key = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        got = (
            "the key without the Bearer prefix"
            if scheme.startswith(f"{KEY_PREFIX}_")
            else "a value without the Bearer prefix"
        )
        raise _unauthorized(
            f"the Authorization header must be `Bearer <key>` (got {got})", "Authorization"
        )
    if not key.strip():
        raise _unauthorized(
            f"the Authorization header has `Bearer` but no key: {SEND}", "Authorization"
        )
    return key.strip()


def authorize(context: ServingContext, headers: Headers, allowed: frozenset[Scope]) -> Scope:
    """Return the scope of the request's key, which ``allowed`` holds (admin in open access).

    Raises:
        ApiError: 401 without a valid key (see ``presented_key``; an unknown, revoked or
            expired key), 403 when the key's scope is not in ``allowed``.
    """
    if context.open_access:
        return Scope.ADMIN
    key = presented_key(headers)
    if not key.startswith(f"{KEY_PREFIX}_"):
        raise _unauthorized(
            f"not a freshrec API key (they look like `{KEY_PREFIX}_<id>_<secret>`): {SEND}",
            "Authorization",
        )
    if context.keys is None:
        raise _unauthorized("unknown API key", "Authorization")
    try:
        scope = context.keys.check(key)
    except UnknownKeyError:
        raise _unauthorized("unknown API key", "Authorization") from None
    except KeyRefusedError as refused:  # revoked or expired: say which, and when
        raise _unauthorized(str(refused), "Authorization") from None
    if scope not in allowed:
        needed = " or ".join(sorted(allowed))
        raise ApiError(
            403, "forbidden", f"a key with scope {scope.value!r} cannot do this; it needs {needed}"
        )
    return scope


def require(*scopes: Scope) -> Callable[..., Awaitable[None]]:
    """Return a dependency that lets through keys of ``scopes`` (and admin keys).

    Raises (from the dependency):
        ApiError: 401 without a valid key, 403 when its scope is not allowed.
    """
    allowed = frozenset({Scope.ADMIN, *scopes})

    async def guard(request: Request, credentials: Credentials) -> None:
        del credentials  # in the signature for the OpenAPI security scheme only
        authorize(context_of(request), request.headers, allowed)

    return guard


ADMIN = Depends(require())
READ = Depends(require(Scope.READ))
INGEST = Depends(require(Scope.INGEST))
