"""Catalogue routes: upsert, read, hide, and items similar to an item.

Item ids in paths may contain ``/`` (see ``paths.py``), so ``/similar`` is registered before
the plain item route (so ``GET`` of an id that itself ends in ``/similar`` means "similar").
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from freshrec.serving.access import ADMIN, READ
from freshrec.serving.answers import answer, id_list, rendered
from freshrec.serving.body import read_json
from freshrec.serving.context import Ctx
from freshrec.serving.params import Cursor, Exclude, Limit, N
from freshrec.serving.paths import id_segment
from freshrec.serving.records import record_list, with_path_id
from freshrec.serving.schemas import (
    ERRORS,
    ItemIn,
    ItemOut,
    ItemPageOut,
    ItemPut,
    RecommendationsOut,
    UnlistedOut,
    WrittenOut,
    json_body,
    list_of,
    ref,
)
from freshrec.serving.writes import WRITE
from freshrec.types import check_id

ITEM = id_segment("item_id")
router = APIRouter(prefix="/v1", tags=["items"], responses=ERRORS)


@router.get(
    f"/items/{ITEM}/similar",
    response_model=RecommendationsOut,
    dependencies=[READ],
    summary="Items similar to an item",
)
async def similar_items(item_id: str, ctx: Ctx, n: N = 10, exclude: Exclude = None) -> Response:
    """Return up to ``n`` items similar to ``item_id`` (never itself), best first."""
    check_id(item_id, "item_id")
    excluded = id_list(exclude, "exclude")
    items = await ctx.scoring.run(rendered, ctx.engine.similar, item_id, n, excluded)
    return answer("similar", items, model_version=ctx.engine.model_version)


@router.put(
    f"/items/{ITEM}",
    response_model=ItemOut,
    dependencies=[ADMIN, WRITE],
    summary="Create or replace an item",
    openapi_extra=json_body(ref(ItemPut), "The item; `item_id` may be left out."),
)
async def put_item(item_id: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Create or replace one item; return it as stored."""
    check_id(item_id, "item_id")
    record = with_path_id(
        await read_json(request, ctx.max_body_bytes), "item_id", item_id, "an item"
    )
    await run_in_threadpool(ctx.engine.upsert_items, [record])
    item = await run_in_threadpool(ctx.engine.get_item, item_id)
    return item.to_dict()


@router.post(
    "/items",
    response_model=WrittenOut,
    dependencies=[ADMIN, WRITE],
    summary="Create or replace items in a batch (all or none)",
    openapi_extra=json_body(list_of(ItemIn), "A JSON list of items."),
)
async def post_items(request: Request, ctx: Ctx) -> dict[str, int]:
    """Upsert a list of items; one bad item rejects the batch with a 400 naming it."""
    records = record_list(await read_json(request, ctx.max_body_bytes), "items")
    written = await run_in_threadpool(ctx.engine.upsert_items, records)
    return {"written": written}


@router.patch(
    f"/items/{ITEM}",
    response_model=ItemOut,
    dependencies=[ADMIN, WRITE],
    summary="Change some fields of an item",
    openapi_extra=json_body(
        ref(ItemPut),
        "Only the fields to change (JSON Merge Patch, RFC 7396): a field set to null goes "
        "back to its default, `properties` merge key by key.",
    ),
)
async def patch_item(item_id: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Change only the given fields of an item; return it as stored.

    ``{"available": true}`` brings a hidden item back with its title, text and categories.
    404 for an id the engine never met; an id met only in events becomes a listed item.
    """
    check_id(item_id, "item_id")
    changes = await read_json(request, ctx.max_body_bytes)
    item = await run_in_threadpool(ctx.engine.patch_item, item_id, changes)
    return item.to_dict()


@router.get(
    "/items",
    response_model=ItemPageOut,
    dependencies=[READ],
    summary="List the catalogue, a page at a time",
)
async def list_items(
    ctx: Ctx, cursor: Cursor = None, limit: Limit = 100, available: bool | None = None
) -> dict[str, Any]:
    """Items in ``item_id`` order, ``limit`` per page; pass ``next_cursor`` back as ``cursor``.

    The cursor is stable: while items are upserted, every item present for the whole
    listing is on exactly one page. ``available=false`` lists the hidden items.
    """
    page = await run_in_threadpool(ctx.engine.list_items, cursor, limit, available)
    return {"items": [item.to_dict() for item in page.items], "next_cursor": page.next_cursor}


@router.get(
    f"/items/{ITEM}",
    response_model=ItemOut,
    dependencies=[READ],
    summary="Read an item",
)
def get_item(item_id: str, ctx: Ctx) -> dict[str, Any]:
    """Return a stored item; 404 for an unknown one."""
    return ctx.engine.get_item(check_id(item_id, "item_id")).to_dict()


@router.delete(
    f"/items/{ITEM}",
    response_model=ItemOut,
    dependencies=[ADMIN, WRITE],
    summary="Hide an item",
)
def hide_item(item_id: str, ctx: Ctx) -> dict[str, Any]:
    """Hide an item from every answer (``available`` false); its history is kept.

    An id known only from events (see ``GET /v1/catalogue/unlisted``) is listed as a bare,
    hidden item. ``PATCH`` it with ``{"available": true}`` to bring it back.
    """
    return ctx.engine.hide_item(check_id(item_id, "item_id")).to_dict()


@router.get(
    "/catalogue/unlisted",
    response_model=UnlistedOut,
    dependencies=[ADMIN],
    summary="Item ids met only in events",
)
def unlisted_items(ctx: Ctx, limit: Limit = 100) -> dict[str, Any]:
    """Item ids that events name but no upsert created, most events first.

    Their events are kept and counted, but such items are never recommended until an item
    upsert creates them (an ``ingest`` key cannot put an item into anyone's feed).
    """
    items = ctx.engine.unlisted_items(limit)
    total = ctx.engine.unlisted_count  # not stats(): that counts the log in the store
    return {"total": total, "items": [{"item_id": i, "events": n} for i, n in items]}
