"""Answers for a user: recommendations per scenario (cached) and ranking of given candidates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from freshrec import scenarios
from freshrec.serving.access import READ
from freshrec.serving.answers import (
    answer,
    id_list,
    new_recommendation_id,
    rendered,
    scored_items,
)
from freshrec.serving.body import read_json
from freshrec.serving.context import Ctx, ServingContext
from freshrec.serving.errors import ApiError
from freshrec.serving.params import AtLeast, Category, Exclude, N, Scenario, SearchText
from freshrec.serving.paths import id_segment
from freshrec.serving.schemas import (
    ERRORS,
    MAX_RANK_ITEMS,
    RankIn,
    RankOut,
    RecommendationsOut,
    json_body,
    ref,
)
from freshrec.types import check_id

USER = id_segment("user_id")
router = APIRouter(prefix="/v1", tags=["recommendations"], responses=ERRORS)

_RANK_FIELDS = frozenset({"user_id", "item_ids"})


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
    its own ``recommendation_id`` all the same.
    """
    check_id(user_id, "user_id")
    excluded = id_list(exclude, "exclude")
    if category is not None:
        check_id(category, "category")
    # One hop off the event loop for lookup and scoring (both take the engine lock); the
    # body is built here, not re-validated against the response model (hot path).
    items = await ctx.scoring.run(_cached, ctx, user_id, scenario, n, excluded, category, at_least)
    return answer(scenario, items)


def _cached(
    ctx: ServingContext,
    user_id: str,
    scenario: str,
    n: int,
    excluded: tuple[str, ...],
    category: str | None,
    at_least: int | None = None,
) -> bytes:
    """The rendered ``items`` of an answer, from the cache or scored now (and cached).

    ``at_least``: a cached answer may predate that offset, so it is scored afresh (once the
    offset is applied) and the cache gets the new answer.
    """
    engine = ctx.engine
    if at_least is not None:
        engine.wait_for_offset(at_least)
    # Read before scoring: an event landing meanwhile files this answer under a stale key.
    key = (user_id, scenario, n, tuple(sorted(set(excluded))), category, engine.freshness(user_id))
    items: bytes | None = None if at_least is not None else ctx.cache.get(key)
    if items is None:
        items = rendered(engine.recommend, user_id, n, scenario, excluded, category)
        ctx.cache.put(key, items)
    return items


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
    if category is not None:
        check_id(category, "category")
    items = await ctx.scoring.run(rendered, ctx.engine.search, q, n, user_id, category)
    return answer(scenarios.SEARCH, items)


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
