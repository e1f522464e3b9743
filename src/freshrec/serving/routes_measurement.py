"""Measurement over HTTP: shown reports, online reports and experiments (DESIGN.md).

Reads here take the measurement's own mutex for a copy of its counters; none of them takes
the engine's write path.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from freshrec.serving.access import ADMIN, INGEST, READ
from freshrec.serving.body import read_json
from freshrec.serving.context import Ctx
from freshrec.serving.errors import ApiError
from freshrec.serving.paths import id_segment
from freshrec.serving.schemas import ERRORS
from freshrec.types import check_id, parse_timestamp

NAME = id_segment("name")
USER = id_segment("user_id")
router = APIRouter(prefix="/v1", tags=["measurement"], responses=ERRORS)

GroupBy = Annotated[
    str,
    Query(description="Comma-separated: scenario, variant, model_version, position."),
]
Since = Annotated[
    str | None,
    Query(
        description="Lists served at or after this time (unix seconds or ISO), to the "
        "report's bucket (measurement.bucket_seconds): the bucket holding it counts whole."
    ),
]
Until = Annotated[
    str | None,
    Query(
        description="Lists served before this time (unix seconds or ISO), to the bucket: "
        "the bucket holding it counts whole."
    ),
]

_SHOWN_FIELDS = frozenset({"recommendation_id", "item_ids"})


@router.post("/impressions", status_code=202, dependencies=[INGEST], summary="Report shown items")
async def post_impressions(request: Request, ctx: Ctx) -> dict[str, Any]:
    """Report which items of a served list the client actually showed.

    Without a report the whole served list counts as shown. The first report replaces that
    with the given items; later ones add to them. Items not in the list are ignored. 404
    when no list with the id is open for attribution (never served, or older than
    ``measurement.attribution_window_seconds``).
    """
    raw = await read_json(request, ctx.max_body_bytes)
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid", "expected a JSON object with recommendation_id, item_ids")
    unknown = sorted(raw.keys() - _SHOWN_FIELDS)
    if unknown:
        raise ApiError(400, "invalid", "unknown field", unknown[0])
    if "item_ids" not in raw:
        raise ApiError(400, "invalid", "item_ids is required", "item_ids")
    recommendation_id = check_id(raw.get("recommendation_id"), "recommendation_id")
    shown = ctx.engine.measurement.report_shown(recommendation_id, raw["item_ids"], time.time())
    return {"recommendation_id": recommendation_id, "impressions": shown}


@router.get("/reports/online", dependencies=[READ], summary="CTR and conversion, grouped")
async def online_report(
    ctx: Ctx, group_by: GroupBy = "scenario", since: Since = None, until: Until = None
) -> dict[str, Any]:
    """Lists, impressions, clicks, conversions and revenue per group, with 95 % intervals.

    ``ctr`` and ``conversion_rate`` are per impression with Wilson intervals;
    ``ctr_per_list`` is the same ratio with lists as the units (delta method) and
    ``revenue_per_list`` a mean over lists (normal interval). Keys not in ``group_by`` are
    null.
    """
    keys = [key.strip() for key in group_by.split(",") if key.strip()]
    low = None if since is None else _time(since, "since")
    high = None if until is None else _time(until, "until")
    # Off the event loop: a long report holds the measurement's lock for its sums.
    return await run_in_threadpool(ctx.engine.measurement.online_report, keys, low, high)


@router.get("/reports/series", dependencies=[READ], summary="Counts over time, grouped")
async def online_series(ctx: Ctx, by: GroupBy = "scenario,variant") -> dict[str, Any]:
    """Lists, impressions, clicks and conversions per time bucket and group (for plots).

    ``time`` is the bucket's start in unix seconds (``measurement.bucket_seconds`` wide).
    """
    keys = [key.strip() for key in by.split(",") if key.strip()]
    if "position" in keys:
        raise ApiError(400, "invalid", "series group by scenario, variant or model_version", "by")
    return {
        "bucket_seconds": ctx.engine.config.measurement.bucket_seconds,
        "series": await run_in_threadpool(ctx.engine.measurement.series, keys),
    }


@router.get("/experiments", dependencies=[READ], summary="All experiments")
async def list_experiments(ctx: Ctx) -> dict[str, Any]:
    """Every experiment's definition, running or stopped."""
    return {"experiments": [spec.to_dict() for spec in ctx.engine.measurement.experiments()]}


# The routes below the name come first: an id segment matches "/" too (ids may hold it),
# so "/experiments/{name}" would take "e1/stop" as a name.


@router.get(
    f"/experiments/{NAME}/assignment/{USER}", dependencies=[READ], summary="A user's variant"
)
async def get_assignment(name: str, user_id: str, ctx: Ctx) -> dict[str, Any]:
    """The variant the user gets (a salted hash of the id: stable, no per-user state)."""
    spec = ctx.engine.measurement.experiment(check_id(name, "name"))
    return {"experiment": spec.name, "variant": spec.variant_of(check_id(user_id, "user_id"))}


@router.post(f"/experiments/{NAME}/stop", dependencies=[ADMIN], summary="Stop an experiment")
async def stop_experiment(name: str, ctx: Ctx) -> dict[str, Any]:
    """Stop it: the scenario's own settings answer everyone again; its report stays."""
    spec = ctx.engine.measurement.stop_experiment(check_id(name, "name"))
    ctx.cache.clear()
    return spec.to_dict()


@router.put(f"/experiments/{NAME}", dependencies=[ADMIN], summary="Start an experiment")
async def put_experiment(name: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Start an experiment over a scenario: its variants answer their users from now on.

    Body: ``{"scenario", "design": "ab" | "interleave", "variants": [{"name", "share",
    "settings"}], "salt"?, "cuped"?}``; ``settings`` overrides ``blend``, ``retrieval`` or
    the answer settings of ``scenarios``. 409 when the name is taken (experiments are
    immutable) or another experiment runs over the scenario.
    """
    raw = await read_json(request, ctx.max_body_bytes)
    spec = await run_in_threadpool(  # waits for the durable commit
        ctx.engine.measurement.put_experiment, check_id(name, "name"), raw
    )
    ctx.cache.clear()  # answers of the scenario now depend on the variant
    return spec.to_dict()


@router.get(f"/experiments/{NAME}", dependencies=[READ], summary="An experiment's report")
async def get_experiment(name: str, ctx: Ctx) -> dict[str, Any]:
    """An experiment's report: per variant users, lists, impressions, clicks and CTR.

    Also the lifts with always-valid intervals and decisions, the sample-ratio check and
    the guardrails (empty answers, latency).
    """
    return await run_in_threadpool(ctx.engine.measurement.experiment_report, check_id(name, "name"))


def _time(text: str, name: str) -> float:
    return parse_timestamp(text, name)
