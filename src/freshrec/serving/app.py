"""The app factory: one FastAPI app over one engine.

>>> from fastapi.testclient import TestClient
>>> from freshrec import Engine
>>> with TestClient(create_app(Engine.open(None), auth=None, open_access=True)) as client:
...     client.get("/health/ready").json()
{'status': 'ready'}
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from freshrec import __version__
from freshrec.engine import Engine
from freshrec.serving import (
    dashboard,
    routes_events,
    routes_items,
    routes_measurement,
    routes_ops,
    routes_recs,
    routes_users,
)
from freshrec.serving.activity import EventActivity
from freshrec.serving.auth import KeyStore
from freshrec.serving.cache import RecommendationCache
from freshrec.serving.context import ServingContext
from freshrec.serving.cors import CorsMiddleware
from freshrec.serving.docs_page import install_docs
from freshrec.serving.errors import install_error_handlers
from freshrec.serving.metrics import MetricsMiddleware, ServingMetrics
from freshrec.serving.query_names import REJECT_UNKNOWN_QUERY
from freshrec.serving.schemas import request_schemas

log = logging.getLogger(__name__)

OPEN_ACCESS_WARNING = (
    "\n" + "!" * 78 + "\n"
    "!!  OPEN ACCESS: no API keys are checked. Anyone who can reach this port can read\n"
    "!!  recommendations, change the catalogue and send events. Local demos only.\n" + "!" * 78
)
DESCRIPTION = (
    "Real-time recommendations: send items, users and events; every event changes the "
    'user\'s next answer. Errors are `{"error": {"code", "message", "field"}}`.'
)


def _freeze_loaded_state() -> None:
    """Take the state loaded at start-up out of the garbage collector's full passes.

    The engine's state is millions of long-lived Python objects (per-user histories, id
    maps); a full collection walks all of them, a pause of tens to hundreds of milliseconds
    that lands on whatever requests are in flight (the p99). Nothing loaded at start-up is
    garbage, so it is moved to the permanent generation once; objects made later are
    collected as usual.
    """
    gc.collect()
    gc.freeze()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    context = context_of_app(app)
    if context.open_access:
        log.warning(OPEN_ACCESS_WARNING)
    # Engine.open has already rebuilt state from the log and installed the saved model, so
    # the app is ready as soon as it starts.
    _freeze_loaded_state()
    context.ready = True
    try:
        yield
    finally:
        # The server has stopped taking requests and drained in-flight ones by now.
        context.ready = False
        if context.keys is not None:  # when keys were last used: written once a minute
            await run_in_threadpool(context.keys.flush)
        context.scoring.stop()
        if context.close_engine:
            await run_in_threadpool(context.engine.close)


def context_of_app(app: FastAPI) -> ServingContext:
    """Return the serving context of an app made by ``create_app``."""
    context: ServingContext = app.state.serving
    return context


def create_app(
    engine: Engine,
    *,
    auth: KeyStore | None,
    open_access: bool = False,
    max_body_bytes: int = 1_000_000,
    close_engine: bool = True,
    cors_origins: Iterable[str] = (),
) -> FastAPI:
    """Return the HTTP app serving ``engine``; shutting the app down closes the engine.

    Args:
        engine: an open engine (its state and models are loaded by ``Engine.open``).
        auth: the API keys; may be None only with ``open_access``.
        open_access: serve every route without keys (local demos; logged loudly at start).
        max_body_bytes: larger request bodies are refused with 413.
        close_engine: close (flush) the engine at shutdown; False when the caller owns it
            and may start the app again (tests, embedding in a larger program).
        cors_origins: web origins whose pages may call the API from a browser, added to
            ``serving.cors_origins`` (``scheme://host[:port]``).

    Raises:
        ValueError: no ``auth`` and not ``open_access``, so nothing could be called.
        freshrec.errors.ValidationError: a CORS origin is not ``scheme://host[:port]``.
    """
    if auth is None and not open_access:
        raise ValueError("create_app needs a KeyStore unless open_access is set")
    origins = [*engine.config.serving.cors_origins, *cors_origins]
    origins = list(
        engine.config.merged({"serving": {"cors_origins": origins}}).serving.cors_origins
    )
    wanted = engine.config.serving.cache
    cache = RecommendationCache(wanted.max_entries, wanted.max_bytes, wanted.max_age_seconds)
    metrics = ServingMetrics(
        cache, engine.stats, lambda: engine.measurement.online_report(("scenario", "variant"))
    )
    app = FastAPI(
        title="freshrec",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
        dependencies=[REJECT_UNKNOWN_QUERY],
        docs_url=None,  # served from installed files, not a CDN (``docs_page``)
        redoc_url=None,
    )
    app.state.serving = ServingContext(
        engine=engine,
        keys=None if open_access else auth,
        open_access=open_access,
        cache=cache,
        metrics=metrics,
        activity=EventActivity(),
        max_body_bytes=max_body_bytes,
        close_engine=close_engine,
    )
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Outermost, so that refusals (401, 413, ...) reach a permitted page's script too.
    app.add_middleware(CorsMiddleware, origins=origins)
    install_docs(app)
    # Recommendations first: the router tries each included router in turn, so every router
    # before the hot route costs its path matching on each request (no paths overlap).
    routers = (
        routes_recs,
        routes_ops,
        routes_items,
        routes_users,
        routes_events,
        routes_measurement,
    )
    for module in (*routers, dashboard):
        app.include_router(module.router)
    _add_request_schemas(app, engine.config.events.weights)
    return app


def _add_request_schemas(app: FastAPI, event_types: Iterable[str]) -> None:
    """Put the request-body models into the OpenAPI components the routes refer to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                request_schemas(event_types)
            )
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
