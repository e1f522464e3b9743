"""``GET /dashboard``: a server-rendered page of live traffic, engine state and one user's answer.

Plain HTML that refreshes itself every few seconds; no script. Figures come from this server
process (event rate, top items among events it received) and from the engine (counts, model
version). Looking up a user computes a preview answer that is neither cached nor attributed.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from freshrec.errors import FreshrecError
from freshrec.serving.access import READ
from freshrec.serving.context import Ctx, ServingContext
from freshrec.serving.schemas import ERRORS

router = APIRouter(tags=["dashboard"])

REFRESH_SECONDS = 5
TOP_ITEMS = 10
_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:60em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{padding:.2em .8em;text-align:left}
th{background:#eee}tr:nth-child(even){background:#f7f7f7}.warn{background:#fdd;padding:.5em}
.num{text-align:right;font-variant-numeric:tabular-nums}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body or '<tr><td>none yet</td></tr>'}</table>"


def _traffic(ctx: ServingContext) -> str:
    activity, cache = ctx.activity, ctx.cache
    lookups = cache.hits + cache.misses
    hit_rate = f"{cache.hits / lookups:.0%}" if lookups else "n/a"
    rows = [
        ("events/s, last 10 s", f"{activity.rate(10):.1f}"),
        ("events/s, last 60 s", f"{activity.rate(60):.1f}"),
        ("events received by this server", activity.total),
        ("recommendation cache hit rate", f"{hit_rate} of {lookups}"),
    ]
    return "<h2>Live traffic</h2>" + _table(("", "value"), rows)


def _top_items(ctx: ServingContext) -> str:
    rows = []
    for item_id, count in ctx.activity.top_items(TOP_ITEMS):
        title = ctx.engine.store.get_item(item_id)
        rows.append((item_id, title.title if title is not None else "", count))
    window = ctx.activity.window_seconds // 60
    return f"<h2>Top items, last {window} minutes</h2>" + _table(("item", "title", "events"), rows)


def _user(ctx: ServingContext, user_id: str, n: int) -> str:
    try:
        recent = ctx.engine.history(user_id)[-10:][::-1]
        recs = ctx.engine.recommend(user_id, n)
    except FreshrecError as exc:
        return f"<p class=warn>{_e(exc)}</p>"
    rows = [(r.item_id, _title(ctx, r.item_id), f"{r.score:.3f}", ", ".join(r.why)) for r in recs]
    history = ", ".join(recent) if recent else "no events yet: the cold-start answer"
    return (
        f"<h2>Recommendations for {_e(user_id)}</h2><p>Recent, newest first: {_e(history)}</p>"
        + _table(("item", "title", "score", "why"), rows)
    )


def _title(ctx: ServingContext, item_id: str) -> str:
    item = ctx.engine.store.get_item(item_id)
    return item.title if item is not None else ""


def render(ctx: ServingContext, user_id: str | None, n: int) -> str:
    """Return the whole page as HTML."""
    stats: dict[str, Any] = ctx.engine.stats()
    warning = (
        "<p class=warn>Open access: this server accepts requests without API keys.</p>"
        if ctx.open_access
        else ""
    )
    form = (
        "<form method=get action=/dashboard><label>User id "
        f"<input name=user value='{_e(user_id or '')}'></label> "
        "<button>Show recommendations</button></form>"
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8>"
        f"<meta http-equiv=refresh content={REFRESH_SECONDS}>"
        f"<title>freshrec</title><style>{_STYLE}</style></head><body>"
        f"<h1>freshrec</h1>{warning}{form}"
        + (_user(ctx, user_id, n) if user_id else "")
        + _traffic(ctx)
        + _top_items(ctx)
        + "<h2>Engine</h2>"
        + _table(("", "value"), sorted(stats.items()))
        + "<p><a href=/docs>API docs</a> · <a href=/metrics>metrics</a></p></body></html>"
    )


@router.get(
    "/dashboard",
    response_class=HTMLResponse,
    dependencies=[READ],
    summary="Dashboard",
    responses={k: v for k, v in ERRORS.items() if k in (401, 403, 422)},
)
def dashboard(
    ctx: Ctx,
    user: Annotated[str | None, Query(description="Show this user's answer.")] = None,
    n: Annotated[int, Query(ge=1, le=100)] = 10,
) -> HTMLResponse:
    """Return the dashboard page (refreshes itself every 5 seconds)."""
    return HTMLResponse(render(ctx, user or None, n))
