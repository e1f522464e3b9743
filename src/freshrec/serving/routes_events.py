"""``POST /v1/events``: one event or a batch, durable when the response is sent."""

from __future__ import annotations

from operator import itemgetter
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from freshrec.errors import ValidationError
from freshrec.serving.access import INGEST
from freshrec.serving.body import read_json
from freshrec.serving.context import Ctx
from freshrec.serving.errors import ApiError
from freshrec.serving.schemas import ERRORS, EventsIn, IngestOut, json_body, ref
from freshrec.serving.writes import WRITE

router = APIRouter(prefix="/v1", tags=["events"], responses=ERRORS)

Atomic = Annotated[
    bool, Query(description="Reject the whole batch (400, nothing stored) if one event is bad.")
]


@router.post(
    "/events",
    status_code=202,
    response_model=IngestOut,
    dependencies=[INGEST, WRITE],
    summary="Send behaviour events",
    openapi_extra=json_body(ref(EventsIn), "One event object, or a JSON list of events."),
)
async def post_events(request: Request, ctx: Ctx, atomic: Atomic = False) -> dict[str, Any]:
    """Validate, store durably and apply events; the next answer for their users reflects them.

    A list keeps its valid events and reports each bad one by ``index`` under ``errors``;
    with ``atomic=true`` one bad event rejects the list with a 400 naming its index and
    field. A single event object that is bad is a 400. Events repeating an ``event_id``
    already stored count as ``duplicates`` and change nothing. ``offset`` is the log
    offset that reflects this request's events: pass it as ``at_least`` to a read.
    """
    raw = await read_json(request, ctx.max_body_bytes)
    if isinstance(raw, dict):
        events: list[Any] = [raw]
        atomic = True
    elif isinstance(raw, list):
        events = raw
    else:
        raise ApiError(400, "invalid", "expected an event object or a JSON list of events")
    try:
        result = await run_in_threadpool(ctx.engine.ingest, events, atomic)
    except ValidationError:
        ctx.metrics.record_events(0, 0, len(events))
        raise
    rejected = {index for index, _ in result.errors}
    ctx.metrics.record_events(result.accepted, result.duplicates, len(rejected))
    if rejected:
        ctx.activity.record(e["item_id"] for i, e in enumerate(events) if i not in rejected)
    else:  # the common case, without a Python-level generator step per event
        ctx.activity.record(map(itemgetter("item_id"), events))
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "offset": result.offset,
        "errors": [{"index": index, "message": message} for index, message in result.errors],
    }
