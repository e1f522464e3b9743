"""Operations routes: liveness, readiness (open to all) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from freshrec.serving.access import READ
from freshrec.serving.context import Ctx
from freshrec.serving.errors import error_response
from freshrec.serving.metrics import CONTENT_TYPE
from freshrec.serving.schemas import ERRORS, ErrorOut, HealthOut

router = APIRouter(tags=["operations"])


@router.get("/health/live", response_model=HealthOut, summary="The process is up")
async def live() -> dict[str, str]:
    """Return 200 while the process can answer at all."""
    return {"status": "live"}


@router.get(
    "/health/ready",
    response_model=HealthOut,
    summary="Ready to serve",
    responses={503: {"model": ErrorOut, "description": "Starting up, shutting down or degraded."}},
)
async def ready(ctx: Ctx) -> dict[str, str] | Response:
    """Return 200 once state and models are loaded, 503 before that and while shutting down.

    Also 503 (``degraded``, with the reason) once committed data failed to apply in memory:
    the engine then refuses writes until a restart rebuilds its state from the log.
    """
    if not ctx.ready:
        return error_response(503, "not_ready", "starting up or shutting down")
    if ctx.engine.degraded is not None:
        return error_response(503, "degraded", ctx.engine.degraded)
    return {"status": "ready"}


@router.get(
    "/metrics",
    dependencies=[READ],
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        **{k: v for k, v in ERRORS.items() if k in (401, 403)},
        200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format."},
    },
)
def metrics(ctx: Ctx) -> Response:
    """Return request counts and latencies, event outcomes, cache and engine counters."""
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE)
