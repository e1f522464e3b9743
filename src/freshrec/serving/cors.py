"""Calls from web pages on other origins (CORS): which origins' scripts may call the API.

A shop's page sends events straight from the browser with an ``ingest`` key (the scope meant
for web pages), but a browser lets a script call another origin only when that origin says
so: it first sends a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) and sends
the call only if the answer allows the page's origin, the method and the headers.
``serving.cors_origins`` (and ``freshrec serve --cors-origin``) names those origins.

Keys travel in the ``Authorization`` header, never in cookies, so credentials stay off: the
browser attaches nothing that the page's script did not write itself (the dashboard's
sign-in cookie in particular never goes with a cross-origin call).

>>> from fastapi import FastAPI
>>> from fastapi.testclient import TestClient
>>> app = FastAPI()
>>> app.add_middleware(CorsMiddleware, origins=["https://shop.example"])
>>> ask = {"Access-Control-Request-Method": "POST",
...        "Access-Control-Request-Headers": "authorization,content-type"}
>>> allowed = TestClient(app).options(
...     "/v1/events", headers={**ask, "Origin": "https://shop.example"})
>>> allowed.status_code, allowed.headers["access-control-allow-origin"]
(200, 'https://shop.example')
>>> refused = TestClient(app).options("/v1/events", headers={**ask, "Origin": "https://x.test"})
>>> refused.status_code, "access-control-allow-origin" in refused.headers
(400, False)
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from freshrec.serving.errors import error_response

ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Content-Type is named although it is "safelisted": application/json is not one of the
# three content types a browser sends without asking.
ALLOWED_HEADERS = ("Authorization", "Content-Type")
# How long a browser may reuse a preflight's answer (one preflight per page and route).
PREFLIGHT_MAX_AGE_SECONDS = 600


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS middleware over ``origins``, refusing in the API's own error shape.

    A refused preflight answers 400 with ``{"error": {...}}`` saying what was refused (the
    origin, the method or a header) and no ``Access-Control-Allow-*`` header at all, where
    Starlette answers plain text and still lists the allowed methods and headers.

    Args:
        app: the application behind it.
        origins: the exact origins allowed (``scheme://host[:port]``); may be empty.
    """

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        super().__init__(
            app,
            allow_origins=tuple(origins),
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            max_age=PREFLIGHT_MAX_AGE_SECONDS,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        """Return Starlette's answer when it allows the call, else a JSON 400 naming why."""
        allowed = super().preflight_response(request_headers)
        if allowed.status_code == 200:
            return allowed
        origin = request_headers["origin"]
        method = request_headers["access-control-request-method"]
        asked = request_headers.get("access-control-request-headers", "")
        unknown = [h.strip() for h in asked.split(",") if h.strip()]
        unknown = [h for h in unknown if h.lower() not in self.allow_headers]
        if not self.is_allowed_origin(origin):
            origins = ", ".join(self.allow_origins) or "none"
            # What --cors-origin accepts: no trailing slash, lower case (browsers send so).
            suggested = origin.rstrip("/").lower()
            message = (
                f"pages from {origin} may not call this API from a browser (allowed origins: "
                f"{origins}; start the server with `--cors-origin {suggested}` to allow it)"
            )
            field = "Origin"
        elif method not in self.allow_methods:
            message = f"a browser may not send {method}; allowed: {', '.join(ALLOWED_METHODS)}"
            field = "Access-Control-Request-Method"
        elif unknown:
            message = (
                f"a browser may not send the header {unknown[0]}; allowed: "
                f"{', '.join(ALLOWED_HEADERS)}"
            )
            field = "Access-Control-Request-Headers"
        else:  # a private-network preflight: this server does not opt in to those
            message = "this server does not answer private-network preflights"
            field = "Access-Control-Request-Private-Network"
        vary = {"Vary": allowed.headers["vary"]}
        return error_response(400, "cors_refused", message, field, headers=vary)
