"""Answers for a user: recommendations per scenario (cached) and ranking of given candidates."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from freshrec import scenarios
from freshrec.errors import UnknownScenarioError, ValidationError
from freshrec.measurement.experiments import INTERLEAVED
from freshrec.reading import check_n
from freshrec.serving.access import READ
from freshrec.serving.answers import (
    answer,
    answer_body,
    id_list,
    new_recommendation_id,
    rendered,
    scored_items,
    served_items,
    served_size,
)
from freshrec.serving.body import read_json
from freshrec.serving.context import Ctx, ServingContext
from freshrec.serving.errors import ApiError
from freshrec.serving.params import AtLeast, Category, Exclude, N, Scenario, SearchText
from freshrec.serving.paths import id_segment
from freshrec.serving.schemas import (
    ERRORS,
    MAX_BATCH_USERS,
    MAX_RANK_ITEMS,
    BatchRecommendationsOut,
    RankIn,
    RankOut,
    RecommendationsIn,
    RecommendationsOut,
    json_body,
    ref,
)
from freshrec.types import check_categories, check_id

USER = id_segment("user_id")
router = APIRouter(prefix="/v1", tags=["recommendations"], responses=ERRORS)

_RANK_FIELDS = frozenset({"user_id", "item_ids"})
_BATCH_FIELDS = frozenset({"user_ids", "n", "scenario", "exclude", "category"})


@router.get(
    f"/recommendations/{USER}",
    response_model=RecommendationsOut,
    dependencies=[READ],
    summary="Recommendations for a user",
)
async def recommendations(
    user_id: str,
    ctx: Ctx,
    scenario: Scenario = scenarios.HOME,
    n: N = 10,
    exclude: Exclude = None,
    category: Category = None,
    at_least: AtLeast = None,
) -> Response:
    """Return up to ``n`` items for the user, best first, each with its score and reasons.

    Items the user interacted with never appear. An answer may come from a short-lived
    cache: the user's own next event, an item upsert or a retrain always reach the very next
    answer, and other users' events reach every answer within
    ``serving.cache.max_age_seconds`` (1 s by default), so a cached answer never hides an
    event for longer. With ``at_least`` (an ``offset`` from ``POST /v1/events``) the answer
    reflects every event up to that offset, whatever the cache holds. Every response gets
    its own ``recommendation_id`` all the same, and is logged as a served list.

    In a running experiment over the scenario the user's variant answers, and ``variant``
    names it (``"interleaved"`` for a team-draft merge, whose items each name their
    ``team``); ``model_version`` is the version that answered.
    """
    check_id(user_id, "user_id")
    excluded = id_list(exclude, "exclude")
    categories = check_categories(category)
    # One hop off the event loop for lookup and scoring (both take the engine lock); the
    # body is built here, not re-validated against the response model (hot path).
    items, recommendation_id, variant, version = await ctx.scoring.run(
        _served, ctx, user_id, scenario, n, excluded, categories, at_least
    )
    return answer(scenario, items, recommendation_id, variant, version)


@router.post(
    "/recommendations",
    response_model=BatchRecommendationsOut,
    dependencies=[READ],
    summary="Recommendations for many users in one call",
    openapi_extra=json_body(ref(RecommendationsIn), "The users and what to ask for each."),
)
async def batch_recommendations(request: Request, ctx: Ctx) -> Response:
    """One answer per user, in the order asked, each as ``GET /v1/recommendations`` gives it.

    Each answer has its own ``recommendation_id`` and is logged as a served list; at most
    100 users per call (a bad user id refuses the whole call, naming it).
    """
    asked = _batch_question(await read_json(request, ctx.max_body_bytes))
    user_ids, n, scenario, excluded, categories = asked
    answers = await ctx.scoring.run(
        lambda: [_served(ctx, user_id, scenario, n, excluded, categories) for user_id in user_ids]
    )
    parts = [
        answer_body(scenario, items, recommendation_id, variant, version, user_id)
        for user_id, (items, recommendation_id, variant, version) in zip(
            user_ids, answers, strict=True
        )
    ]
    return Response(b'{"results":[' + b",".join(parts) + b"]}", media_type="application/json")


def _batch_question(
    raw: Any,
) -> tuple[list[str], int, str, tuple[str, ...], tuple[str, ...] | None]:
    """Check a batch body; return the user ids, ``n``, scenario, exclusions and categories."""
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid", "expected a JSON object with user_ids")
    unknown = sorted(raw.keys() - _BATCH_FIELDS)
    if unknown:
        fields = ", ".join(sorted(_BATCH_FIELDS))
        raise ApiError(
            400, "invalid", f"unknown field {unknown[0]!r}; fields: {fields}", unknown[0]
        )
    user_ids = raw.get("user_ids")
    if not isinstance(user_ids, list) or not user_ids:
        raise ApiError(400, "invalid", "user_ids is required: a non-empty list", "user_ids")
    if len(user_ids) > MAX_BATCH_USERS:
        raise ApiError(400, "invalid", f"at most {MAX_BATCH_USERS} users per call", "user_ids")
    for index, user_id in enumerate(user_ids):
        try:
            check_id(user_id, "user_ids")
        except ValidationError as exc:
            raise ApiError(
                400, "invalid", f"user_ids[{index}]: {exc.message}", "user_ids"
            ) from None
    n = raw.get("n", 10)
    check_n(n)
    scenario = raw.get("scenario", scenarios.HOME)
    if scenario not in scenarios.SCENARIOS:
        raise UnknownScenarioError(str(scenario), list(scenarios.SCENARIOS))
    exclude = raw.get("exclude")
    if exclude is None:
        exclude = []
    if not isinstance(exclude, list):
        raise ApiError(400, "invalid", "must be a list of item ids", "exclude")
    excluded = tuple(check_id(item_id, "exclude") for item_id in exclude)
    category = raw.get("category")
    if category is not None and not isinstance(category, str | list):
        raise ApiError(400, "invalid", "must be a category or a list of them", "category")
    return user_ids, n, scenario, excluded, check_categories(category)


def _served(
    ctx: ServingContext,
    user_id: str,
    scenario: str,
    n: int,
    excluded: tuple[str, ...],
    category: tuple[str, ...] | None,
    at_least: int | None = None,
) -> tuple[bytes, str, str | None, str]:
    """An answer from the cache or scored now (and cached), logged as a served list.

    Returns the rendered ``items``, the new recommendation id, the variant and the model
    version. ``at_least``: a cached answer may predate that offset, so it is scored afresh
    (once the offset is applied) and the cache gets the new answer.
    """
    started = time.perf_counter()
    engine, answering = ctx.engine, ctx.engine.answering
    if at_least is not None:
        engine.wait_for_offset(at_least)
    assignment = answering.assign(user_id, scenario)
    # Read before scoring: an event landing meanwhile files this answer under a stale key.
    freshness = engine.freshness(user_id)
    experiment = assignment.experiment.name if assignment.experiment is not None else None
    key = (
        user_id, scenario, n, tuple(sorted(set(excluded))), category, freshness,
        experiment, assignment.variant,
    )  # fmt: skip
    # A randomised answer (exploration) is drawn afresh for each request, never cached.
    explore = answering.explores(assignment, n)
    served = None if at_least is not None or explore else ctx.cache.get(key)
    explored = None
    if served is None:
        drafted = answering.items(user_id, n, scenario, excluded, category, assignment, explore)
        served, explored = served_items(drafted.items, drafted.teams), drafted.explored
        if not explore:
            ctx.cache.put(key, served, served_size(served))
    items, item_ids, scores, teams = served
    model_version = freshness[2]
    latency_ms = (time.perf_counter() - started) * 1000.0
    recommendation_id = answering.record(
        user_id, scenario, assignment, model_version, item_ids, scores, teams,
        latency_ms, None, explored,
    )  # fmt: skip
    variant = INTERLEAVED if teams is not None else assignment.variant
    return items, recommendation_id, variant, model_version


@router.get(
    "/search",
    response_model=RecommendationsOut,
    dependencies=[READ],
    summary="Items matching a description in words",
)
async def search(
    ctx: Ctx,
    q: SearchText,
    n: N = 10,
    user_id: str | None = None,
    category: Category = None,
) -> Response:
    """Return up to ``n`` items whose content matches ``q``, best first.

    The language model reads the query like an item text; with ``user_id`` the order also
    leans to that user's tastes and their seen items are left out.
    """
    if user_id is not None:
        check_id(user_id, "user_id")
    categories = check_categories(category)
    items = await ctx.scoring.run(rendered, ctx.engine.search, q, n, user_id, categories)
    return answer(scenarios.SEARCH, items, model_version=ctx.engine.model_version)


@router.post(
    "/rank",
    response_model=RankOut,
    dependencies=[READ],
    summary="Score given candidates for a user",
    openapi_extra=json_body(ref(RankIn), "The user and the candidate item ids."),
)
async def rank(request: Request, ctx: Ctx) -> dict[str, Any]:
    """Return every candidate with its score, best first (unknown items score 0, last)."""
    raw = await read_json(request, ctx.max_body_bytes)
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid", "expected a JSON object with user_id and item_ids")
    unknown = sorted(raw.keys() - _RANK_FIELDS)
    if unknown:
        raise ApiError(400, "invalid", "unknown field", unknown[0])
    user_id = check_id(raw.get("user_id"), "user_id")
    item_ids = raw.get("item_ids")
    if not isinstance(item_ids, list):
        raise ApiError(400, "invalid", "must be a list of item ids", "item_ids")
    if len(item_ids) > MAX_RANK_ITEMS:
        raise ApiError(400, "invalid", f"at most {MAX_RANK_ITEMS} candidates", "item_ids")
    recs = await ctx.scoring.run(ctx.engine.rank, user_id, item_ids)
    return {"recommendation_id": new_recommendation_id(), "items": scored_items(recs)}
