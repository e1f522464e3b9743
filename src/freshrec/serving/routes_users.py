"""User profile routes: upsert one or many, read one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from freshrec.serving.access import ADMIN, READ
from freshrec.serving.body import read_json
from freshrec.serving.context import Ctx, ServingContext
from freshrec.serving.errors import ApiError
from freshrec.serving.paths import id_segment
from freshrec.serving.records import record_list, with_path_id
from freshrec.serving.schemas import (
    ERRORS,
    UserIn,
    UserOut,
    UserPut,
    WrittenOut,
    json_body,
    list_of,
    ref,
)
from freshrec.types import check_id

USER = id_segment("user_id")
router = APIRouter(prefix="/v1", tags=["users"], responses=ERRORS)


@router.put(
    f"/users/{USER}",
    response_model=UserOut,
    dependencies=[ADMIN],
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
    return await run_in_threadpool(_stored_user, ctx, user_id)


@router.post(
    "/users",
    response_model=WrittenOut,
    dependencies=[ADMIN],
    summary="Create or replace user profiles in a batch (all or none)",
    openapi_extra=json_body(list_of(UserIn), "A JSON list of user profiles."),
)
async def post_users(request: Request, ctx: Ctx) -> dict[str, int]:
    """Upsert a list of profiles; one bad profile rejects the batch with a 400 naming it."""
    records = record_list(await read_json(request, ctx.max_body_bytes), "users")
    written = await run_in_threadpool(ctx.engine.upsert_users, records)
    return {"written": written}


@router.get(
    f"/users/{USER}",
    response_model=UserOut,
    dependencies=[READ],
    summary="Read a user profile",
)
def get_user(user_id: str, ctx: Ctx) -> dict[str, Any]:
    """Return a stored profile; 404 when none was stored."""
    return _stored_user(ctx, check_id(user_id, "user_id"))


def _stored_user(ctx: ServingContext, user_id: str) -> dict[str, Any]:
    user = ctx.engine.get_user(user_id)
    if user is None:
        raise ApiError(404, "unknown_user", f"no profile stored for user_id {user_id!r}", "user_id")
    return user.to_dict()
