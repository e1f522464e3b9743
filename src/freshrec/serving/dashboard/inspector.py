"""The user inspector: one user's recent history and their current answer, with titles and why.

The answer is a preview: ``engine.recommend`` (never ``serve``), so it is neither logged nor
attributed nor cached. A user in a running A/B experiment over the scenario is answered
with their variant's settings, as a served answer would be; an interleaved experiment's
merged answer is not drafted here (its coin would move), so those users see the engine's.
"""

from __future__ import annotations

from freshrec.errors import FreshrecError
from freshrec.measurement.experiments import INTERLEAVE
from freshrec.scenarios import HOME
from freshrec.serving.context import ServingContext
from freshrec.serving.dashboard.markup import e, section, table
from freshrec.serving.dashboard.traffic import title_of

HISTORY_SHOWN = 10


def inspector(ctx: ServingContext, user_id: str, n: int) -> str:
    """Return the panel for ``user_id`` (a warning line instead when the id is refused)."""
    engine = ctx.engine
    try:
        history = engine.history(user_id)
        assignment = engine.answering.assign(user_id, HOME)
        spec, variant = assignment.experiment, assignment.variant
        settings = None
        if spec is not None and variant is not None and spec.design != INTERLEAVE:
            settings = engine.answering.config_of(spec, variant)
        answer = engine.recommend(user_id, n, HOME, answer_config=settings)
    except FreshrecError as exc:
        return section("User inspector", f"<p class=warn>{e(exc)}</p>", anchor="user", wide=True)
    if spec is None:
        who = "no experiment runs over home: the engine's own answer"
    elif settings is not None:
        who = f"experiment {spec.name}, variant {variant}: answered with its settings"
    else:
        who = f"interleaved experiment {spec.name}: the engine's own answer, not the merged one"
    recent = history[::-1][:HISTORY_SHOWN]
    history_html = (
        table(("#", "item", "title"), _history_rows(ctx, recent), numeric=(0,))
        if recent
        else "<p>No events yet: the answer is the cold-start one.</p>"
    )
    top = max((r.score for r in answer), default=0.0) or 1.0
    answer_rows = "".join(
        f"<tr><td class=num>{k + 1}</td><td>{e(r.item_id)}</td>"
        f"<td>{e(title_of(ctx, r.item_id))}</td><td class=num>"
        f"<span class=bar style='width:{max(r.score, 0.0) / top * 6:.2f}em'></span>"
        f"{r.score:.3f}</td><td>{e(', '.join(r.why))}</td></tr>"
        for k, r in enumerate(answer)
    )
    answer_html = (
        "<table><tr><th class=num>#</th><th>item</th><th>title</th><th class=num>score</th>"
        f"<th>why</th></tr>{answer_rows or '<tr><td colspan=5>nothing to recommend</td></tr>'}"
        "</table>"
    )
    body = (
        "<div class='pair wider-right'><div>"
        f"<h3>History, newest first ({len(history):,} recent events kept)</h3>{history_html}"
        f"</div><div><h3>Current answer (home, n = {n})</h3><p class=note>{e(who)}</p>"
        f"{answer_html}</div></div>"
    )
    return section(
        f"Recommendations for {user_id}",
        body,
        "A preview through engine.recommend: not logged, not attributed, not cached. "
        "Titles from the catalogue; why: the sources that put each item there.",
        anchor="user",
        wide=True,
    )


def _history_rows(ctx: ServingContext, item_ids: list[str]) -> list[tuple[int, str, str]]:
    return [(k + 1, item_id, title_of(ctx, item_id)) for k, item_id in enumerate(item_ids)]
