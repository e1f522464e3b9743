"""``GET /dashboard``: live traffic, outcomes, experiments, the model and one user, with plots.

One server-rendered page that refreshes itself every few seconds. Its charts are SVG drawn
here by pygal and inlined (``charts``): the page loads nothing else, runs no script and
works alike on a keyed server and in open access. Each panel says where its numbers come
from; looking up a user computes a preview answer that is neither cached nor attributed.
On a keyed server a browser without a key signs in through a form (``sign_in``).
"""

from __future__ import annotations

import gzip
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from freshrec.serving.access import Credentials
from freshrec.serving.context import Ctx, ServingContext
from freshrec.serving.dashboard import sign_in
from freshrec.serving.dashboard.experiments import experiments
from freshrec.serving.dashboard.inspector import inspector
from freshrec.serving.dashboard.markup import STYLE, clock, e, section, table
from freshrec.serving.dashboard.outcomes import Timeline, model, outcomes
from freshrec.serving.dashboard.traffic import live_traffic, top_and_trending
from freshrec.serving.schemas import ERRORS

__all__ = ["REFRESH_SECONDS", "render", "router"]

router = APIRouter(tags=["dashboard"])
router.include_router(sign_in.router)

REFRESH_SECONDS = 5


def render(
    ctx: ServingContext,
    user_id: str | None,
    n: int,
    now: float | None = None,
    signed_in: bool = False,
) -> str:
    """Return the whole page as HTML, as of ``now`` (unix seconds; default: the clock).

    ``user_id``: show the user inspector for this user, answering with ``n`` items.
    ``signed_in``: the browser came with a sign-in cookie; the header offers to sign out.
    """
    current = time.time() if now is None else now
    stats: dict[str, Any] = ctx.engine.stats()
    timeline = Timeline.ending_now(ctx.engine.config.measurement.bucket_seconds, current)
    warning = (
        "<p class=warn>Open access: this server accepts requests without API keys.</p>"
        if ctx.open_access
        else ""
    )
    form = (
        "<form method=get action=/dashboard><label>User id "
        f"<input name=user value='{e(user_id or '')}'></label> "
        "<button>Show recommendations</button></form>"
    )
    sign_out = (
        f"<form method=post action={sign_in.SIGN_OUT} class=sign-out>"
        "<button>Sign out</button></form>"
    )
    header = (
        "<header><h1>freshrec</h1>"
        f"<span class=stamp>{clock(current, True)} UTC · refreshes every {REFRESH_SECONDS} s"
        "</span><a href=/docs>API docs</a><a href=/metrics>metrics</a>"
        f"{form}{sign_out if signed_in else ''}</header>"
    )
    engine_table = section(
        "Engine",
        "<details><summary>engine.stats()</summary>"
        + table(("", "value"), sorted(stats.items()))
        + "</details>",
        wide=True,
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<meta http-equiv=refresh content={REFRESH_SECONDS}>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        # An empty icon: otherwise the browser asks for /favicon.ico on every refresh.
        "<link rel=icon href='data:,'>"
        f"<title>freshrec dashboard</title><style>{STYLE}</style></head><body>"
        f"{header}<main>{warning}"
        + (inspector(ctx, user_id, n) if user_id else "")
        + "<div class=grid>"
        + live_traffic(ctx, current)
        + model(ctx, stats, timeline)
        + outcomes(ctx, timeline)
        + experiments(ctx)
        + top_and_trending(ctx, current)
        + engine_table
        + "</div></main></body></html>"
    )


@router.get(
    "/dashboard",
    response_class=HTMLResponse,
    summary="Dashboard",
    responses={
        **{k: v for k, v in ERRORS.items() if k in (401, 403, 422)},
        303: {"description": "A browser without a key: to the sign-in form."},
    },
)
def dashboard(
    request: Request,
    ctx: Ctx,
    credentials: Credentials,
    user: Annotated[str | None, Query(description="Show this user's answer.")] = None,
    n: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """Return the dashboard page (refreshes itself every 5 seconds).

    Scope read (or admin): ``Authorization: Bearer <key>``, or a browser's sign-in cookie.
    """
    del credentials  # declared for the OpenAPI security scheme; ``sign_in.gate`` checks
    refused, signed_in = sign_in.gate(request, ctx)
    if refused is not None:
        return refused
    page = render(ctx, user or None, n, signed_in=signed_in).encode()
    # Live figures: a cached copy would show a stale page after the refresh.
    headers = {"Cache-Control": "no-store", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        # SVG repeats itself: about 150 KB of charts travel as about 20 KB.
        page = gzip.compress(page, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
    return HTMLResponse(page, headers=headers)
