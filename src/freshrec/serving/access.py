"""Route guards: which key scopes may call which routes.

``admin`` may call everything; each guard names the other scopes it also lets through.
A missing, malformed or unknown key is a 401; a valid key of the wrong scope is a 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from freshrec.serving.auth import Scope
from freshrec.serving.context import context_of
from freshrec.serving.errors import ApiError

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `freshrec keys create`: `Authorization: Bearer fr_<id>_<secret>`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require(*scopes: Scope) -> Callable[..., Awaitable[None]]:
    """Return a dependency that lets through keys of ``scopes`` (and admin keys).

    Raises (from the dependency):
        ApiError: 401 without a valid key, 403 when its scope is not allowed.
    """
    allowed = frozenset({Scope.ADMIN, *scopes})
    needed = " or ".join(sorted(allowed))

    async def guard(request: Request, credentials: Credentials) -> None:
        context = context_of(request)
        if context.open_access:
            return
        if credentials is None:
            raise ApiError(
                401,
                "unauthorized",
                "missing API key: send `Authorization: Bearer <key>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        scope = context.keys.authenticate(credentials.credentials) if context.keys else None
        if scope is None:
            raise ApiError(
                401, "unauthorized", "unknown API key", headers={"WWW-Authenticate": "Bearer"}
            )
        if scope not in allowed:
            raise ApiError(
                403,
                "forbidden",
                f"a key with scope {scope.value!r} cannot do this; it needs {needed}",
            )

    return guard


ADMIN = Depends(require())
READ = Depends(require(Scope.READ))
INGEST = Depends(require(Scope.INGEST))
