"""``/docs`` (Swagger UI) and ``/redoc`` from files installed with freshrec, not from a CDN.

FastAPI's own pages load their script and stylesheet from a CDN, so on a machine without
the internet (or behind a strict proxy) ``/docs`` was a blank page. The ``fastapi-offline``
package ships Swagger UI 5 (which reads the OpenAPI 3.1 that FastAPI writes; the
``swagger-ui-bundle`` package's Swagger UI 4 cannot) and ReDoc; they are served from its
folder under ``/docs/assets`` with FastAPI's own page builders. The online validator badge
is off (it would fetch from validator.swagger.io), so the pages reach no other host.

>>> from fastapi import FastAPI
>>> from fastapi.testclient import TestClient
>>> app = FastAPI(docs_url=None, redoc_url=None)
>>> install_docs(app)
>>> page = TestClient(app).get("/docs").text
>>> f"{ASSETS}/swagger-ui-bundle.js" in page and "https://" not in page
True
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
# swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png
ASSET_FOLDER = Path(str(files("fastapi_offline") / "static"))
# No badge fetched from validator.swagger.io (it shows for specs not on localhost).
SWAGGER_PARAMETERS = {"validatorUrl": None}


def install_docs(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and their assets to ``app`` (made with ``docs_url=None``).

    Raises:
        ValueError: ``app`` still has FastAPI's CDN pages (``docs_url`` or ``redoc_url``).
    """
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("create the app with docs_url=None and redoc_url=None")
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS, StaticFiles(directory=ASSET_FOLDER), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} · API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} · API",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
