"""What every route needs, gathered in one object held on ``app.state.serving``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from freshrec.engine import Engine
from freshrec.serving.activity import EventActivity
from freshrec.serving.auth import KeyStore
from freshrec.serving.cache import RecommendationCache
from freshrec.serving.metrics import ServingMetrics
from freshrec.serving.scoring import ReadWorker
from freshrec.serving.sessions import DashboardSessions


@dataclass(slots=True)
class ServingContext:
    """The engine and the service's own state.

    Attributes:
        engine: the engine every route reads and writes through.
        keys: API keys (None when ``open_access``).
        open_access: no key needed for anything (a local demo).
        cache: recommendation answers keyed on the user's freshness.
        metrics: Prometheus metrics of this app.
        activity: live event counts for the dashboard.
        max_body_bytes: request bodies above this are refused with 413.
        close_engine: whether shutdown closes the engine.
        ready: True between start-up and shutdown (``/health/ready``).
        scoring: the thread that answers run on (``serving.scoring``).
        sessions: browsers signed in to the dashboard (``serving.sessions``).
    """

    engine: Engine
    keys: KeyStore | None
    open_access: bool
    cache: RecommendationCache
    metrics: ServingMetrics
    activity: EventActivity
    max_body_bytes: int
    close_engine: bool = True
    ready: bool = False
    scoring: ReadWorker = field(default_factory=ReadWorker)
    sessions: DashboardSessions = field(default_factory=DashboardSessions)


def context_of(request: Request) -> ServingContext:
    """Return the context of the app serving ``request``."""
    context: ServingContext = request.app.state.serving
    return context


async def _context(request: Request) -> ServingContext:
    # async, so FastAPI resolves it on the event loop instead of a threadpool hop
    return context_of(request)


Ctx = Annotated[ServingContext, Depends(_context)]
