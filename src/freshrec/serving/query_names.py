"""Refuse query parameters a route does not take, naming them.

FastAPI ignores unknown query parameters, so a typo is silently an unfiltered answer:
``?categories=pets`` (for ``category``) used to return every category. Every route's own
parameters are known from its signature (and its dependencies'), so anything else is a 400
that names the parameter and lists the ones the route takes.

>>> from fastapi import FastAPI
>>> from fastapi.testclient import TestClient
>>> from freshrec.serving.errors import install_error_handlers
>>> app = FastAPI(dependencies=[REJECT_UNKNOWN_QUERY])
>>> install_error_handlers(app)
>>> @app.get("/things")
... def things(n: int = 1) -> int:
...     return n
>>> client = TestClient(app)
>>> client.get("/things?n=2").json()
2
>>> client.get("/things?m=2").json()["error"]["field"]
'm'
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from freshrec.serving.errors import ApiError

# Route -> the query parameter names it takes (routes are fixed once the app is built).
_known: dict[int, tuple[APIRoute, frozenset[str]]] = {}


def _declared(dependant: Dependant) -> set[str]:
    """The query parameter names of ``dependant`` and of every dependency below it."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared(sub)
    return names


def _query_names(route: APIRoute) -> frozenset[str]:
    held = _known.get(id(route))
    if held is None or held[0] is not route:
        held = (route, frozenset(_declared(route.dependant)))
        _known[id(route)] = held
    return held[1]


async def reject_unknown_query(request: Request) -> None:
    """A dependency: 400 ``unknown_parameter`` for a query parameter the route does not take.

    Raises:
        ApiError: 400, ``field`` naming the first unknown parameter.
    """
    if not request.query_params:  # the common case costs one check
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route)
    for name in request.query_params:
        if name not in known:
            takes = ", ".join(sorted(known)) if known else "none"
            raise ApiError(
                400,
                "unknown_parameter",
                f"unknown query parameter {name!r}; this route takes: {takes}",
                name,
            )


REJECT_UNKNOWN_QUERY = Depends(reject_unknown_query)
