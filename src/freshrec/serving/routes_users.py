"""User routes: upsert one or many, patch, read what is known, list events, forget."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from freshrec.errors import NotFoundError
from freshrec.serving.access import ADMIN, READ
from freshrec.serving.body import read_json
from freshrec.serving.context import Ctx, ServingContext
from freshrec.serving.errors import ApiError
from freshrec.serving.params import Limit
from freshrec.serving.paths import id_segment
from freshrec.serving.records import record_list, with_path_id
from freshrec.serving.schemas import (
    ERRORS,
    ForgottenOut,
    UserEventsOut,
    UserIn,
    UserOut,
    UserPut,
    WrittenOut,
    json_body,
    list_of,
    ref,
)
from freshrec.serving.writes import WRITE
from freshrec.types import check_id

USER = id_segment("user_id")
router = APIRouter(prefix="/v1", tags=["users"], responses=ERRORS)


@router.put(
    f"/users/{USER}",
    response_model=UserOut,
    dependencies=[ADMIN, WRITE],
    summary="Create or replace a user profile",
    openapi_extra=json_body(ref(UserPut), "The profile; `user_id` may be left out."),
)
async def put_user(user_id: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Create or replace one profile; return it as stored."""
    check_id(user_id, "user_id")
    record = with_path_id(
        await read_json(request, ctx.max_body_bytes), "user_id", user_id, "a user"
    )
    await run_in_threadpool(ctx.engine.upsert_users, [record])
    return await run_in_threadpool(_known_user, ctx, user_id)


@router.post(
    "/users",
    response_model=WrittenOut,
    dependencies=[ADMIN, WRITE],
    summary="Create or replace user profiles in a batch (all or none)",
    openapi_extra=json_body(list_of(UserIn), "A JSON list of user profiles."),
)
async def post_users(request: Request, ctx: Ctx) -> dict[str, int]:
    """Upsert a list of profiles; one bad profile rejects the batch with a 400 naming it."""
    records = record_list(await read_json(request, ctx.max_body_bytes), "users")
    written = await run_in_threadpool(ctx.engine.upsert_users, records)
    return {"written": written}


@router.patch(
    f"/users/{USER}",
    response_model=UserOut,
    dependencies=[ADMIN, WRITE],
    summary="Change some fields of a user profile",
    openapi_extra=json_body(
        ref(UserPut),
        "Only the fields to change (JSON Merge Patch, RFC 7396): `properties` merge key by "
        "key, a property set to null is removed.",
    ),
)
async def patch_user(user_id: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Change only the given fields of a profile; return the user.

    A user known only from events gets a profile; 404 for a user nobody has mentioned.
    """
    check_id(user_id, "user_id")
    changes = await read_json(request, ctx.max_body_bytes)
    try:
        await run_in_threadpool(ctx.engine.patch_user, user_id, changes)
    except NotFoundError as exc:  # the same code as GET of an unknown user
        raise ApiError(404, "unknown_user", exc.message, "user_id") from None
    return await run_in_threadpool(_known_user, ctx, user_id)


@router.get(
    f"/users/{USER}/events",
    response_model=UserEventsOut,
    dependencies=[READ],
    summary="A user's logged events, newest first",
)
async def user_events(user_id: str, ctx: Ctx, limit: Limit = 100) -> dict[str, Any]:
    """The user's most recent ``limit`` events as logged (an unknown user has none)."""
    check_id(user_id, "user_id")
    logged = await run_in_threadpool(ctx.engine.user_events, user_id, limit)
    return {
        "user_id": user_id,
        "events": [
            {
                "offset": offset,
                "item_id": event.item_id,
                "type": event.type,
                "timestamp": event.timestamp,
                "value": event.value,
                "event_id": event.event_id,
                "recommendation_id": event.recommendation_id,
            }
            for offset, event in logged
        ],
    }


@router.get(
    f"/users/{USER}",
    response_model=UserOut,
    dependencies=[READ],
    summary="Read a user",
)
async def get_user(user_id: str, ctx: Ctx) -> dict[str, Any]:
    """The stored profile and how many events the user has; 404 when neither exists.

    A user who only ever sent events has an empty profile (``profile`` false).
    """
    return await run_in_threadpool(_known_user, ctx, check_id(user_id, "user_id"))


@router.delete(
    f"/users/{USER}",
    response_model=ForgottenOut,
    dependencies=[ADMIN, WRITE],
    summary="Forget a user (profile, events, served lists)",
)
async def forget_user(user_id: str, ctx: Ctx) -> dict[str, Any]:
    """Erase everything held about the user, as data-protection law asks; count it.

    The profile is deleted; the user's events are erased from the log and their served
    lists from the measurement log, and the online state is rebuilt without them, so
    their next answer is a new user's. The next training run fits from scratch, without
    them. Writes wait while the state is rebuilt (about as long as a restart); answers
    go on. An unknown user is not an error: the counts are zero.
    """
    check_id(user_id, "user_id")
    receipt = await run_in_threadpool(ctx.engine.forget_user, user_id)
    ctx.cache.clear()  # answers cached before may hold what the user taught the models
    return receipt.to_dict()


def _known_user(ctx: ServingContext, user_id: str) -> dict[str, Any]:
    user = ctx.engine.get_user(user_id)
    events = ctx.engine.user_event_count(user_id)
    if user is None and events == 0:
        raise ApiError(
            404, "unknown_user", f"no profile or events for user_id {user_id!r}", "user_id"
        )
    record = (
        user.to_dict() if user is not None else {"user_id": user_id, "properties": {}, "text": ""}
    )
    return {**record, "profile": user is not None, "events": events}
