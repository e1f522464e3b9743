"""Panels of what this server sees: event rate over time, top items, trending.

The event figures count what this server process accepted (``EventActivity``), not the
log; trending is the engine's own cold-start answer.
"""

from __future__ import annotations

from freshrec.errors import FreshrecError
from freshrec.serving.context import ServingContext
from freshrec.serving.dashboard import charts
from freshrec.serving.dashboard.markup import clock, e, figure, section, table

RATE_BUCKET_SECONDS = 10
TOP_ITEMS = 10
# Nobody is called this: the engine answers it as any user it has never seen.
TRENDING_PROBE = "dashboard:trending"
LABEL_CHARACTERS = 40


def title_of(ctx: ServingContext, item_id: str) -> str:
    """Return the item's catalogue title ("" when the catalogue does not have it)."""
    item = ctx.engine.store.get_item(item_id)
    return item.title if item is not None else ""


def label_of(ctx: ServingContext, item_id: str) -> str:
    """Return ``title (item_id)`` shortened for an axis, or the id alone without a title."""
    title = title_of(ctx, item_id)
    if not title:
        return item_id
    if len(title) > LABEL_CHARACTERS:
        title = title[: LABEL_CHARACTERS - 1] + "…"
    return f"{title} ({item_id})"


def live_traffic(ctx: ServingContext, now: float) -> str:
    """Event rate figures and events per second over the activity window up to ``now``."""
    activity, cache = ctx.activity, ctx.cache
    lookups = cache.hits + cache.misses
    hit_rate = f"{cache.hits / lookups:.0%}" if lookups else "n/a"
    rows = [
        ("events/s, last 10 s", f"{activity.rate(10, now):.1f}"),
        ("events/s, last 60 s", f"{activity.rate(60, now):.1f}"),
        ("events received by this server", activity.total),
        ("recommendation cache hit rate", f"{hit_rate} of {lookups}"),
    ]
    # The bucket holding now is still filling: its rate would dip. The table has that one.
    buckets = activity.series(RATE_BUCKET_SECONDS, now)[:-1]
    points = [
        charts.Point(
            n / RATE_BUCKET_SECONDS,
            f"{clock(start, True)} UTC: {n:,} events ({n / RATE_BUCKET_SECONDS:.1f}/s)",
        )
        for start, n in buckets
    ]
    labels = [clock(start, True) for start, _ in buckets]
    series = [charts.Series("events/s", charts.PALETTE[0], points)]
    svg = charts.lines(series, labels, charts.count, major_every=6)
    window = activity.window_seconds // 60
    return section(
        "Live traffic",
        table(("", "value"), rows)
        + figure(
            "event-rate",
            f"Events per second, last {window} minutes ({RATE_BUCKET_SECONDS} s buckets, UTC)",
            svg,
        ),
        "Events this server process accepted through POST /v1/events (duplicates included).",
        anchor="traffic",
    )


def top_and_trending(ctx: ServingContext, now: float) -> str:
    """Top items by events received up to ``now``, and what the engine ranks as trending."""
    top = ctx.activity.top_items(TOP_ITEMS, now)
    top_svg = charts.hbars(
        [label_of(ctx, item_id) for item_id, _ in top],
        [charts.Point(n, f"{title_of(ctx, i) or i}: {n:,} events") for i, n in top],
        charts.count,
        charts.PALETTE[0],
    )
    window = ctx.activity.window_seconds // 60
    body = figure("top-items", f"Top items, last {window} minutes (events)", top_svg)
    body += figure(
        "trending", "Trending: the answer to a user with no history (score)", _trending(ctx)
    )
    return section(
        "Top items and trending",
        f"<div class=pair>{body}</div>",
        "Top items: events this server received, with catalogue titles. Trending: the engine's "
        "home answer to a user it has never seen (its cold-start answer), a preview that is "
        "neither logged nor attributed.",
        anchor="items",
        wide=True,
    )


def _trending(ctx: ServingContext) -> str:
    """The engine's answer to an id without history, as bars of scores."""
    try:
        if ctx.engine.history(TRENDING_PROBE):
            return f"<p class=warn>A real user is called {TRENDING_PROBE}: no trending shown.</p>"
        answer = ctx.engine.recommend(TRENDING_PROBE, TOP_ITEMS)
    except FreshrecError as exc:  # e.g. the engine is closing: the rest of the page still shows
        return f"<p class=warn>{e(exc)}</p>"
    return charts.hbars(
        [label_of(ctx, r.item_id) for r in answer],
        [
            charts.Point(r.score, f"{title_of(ctx, r.item_id) or r.item_id}: {', '.join(r.why)}")
            for r in answer
        ],
        lambda v: f"{v:.3f}",
        charts.PALETTE[1],
    )
