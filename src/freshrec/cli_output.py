"""Terminal presentation for ``freshrec.cli``: consoles, progress bars and tables.

Machine-readable output (``--json``) is the only thing a command writes to stdout when asked
for it; everything meant for people (tables, progress, warnings) can go to stderr instead, so
``freshrec replay --json | jq`` works.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from freshrec.engine import Engine
from freshrec.errors import UnknownItemError
from freshrec.simulate import SyntheticShop
from freshrec.types import Recommendation

# Consoles look up sys.stdout / sys.stderr when they write, so test runners that swap the
# streams see the output.
out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)

BAD_ROWS_SHOWN = 5


def error(message: str) -> None:
    """Print one ``error: ...`` line to stderr (no traceback, no markup)."""
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


@contextmanager
def progress_bar(
    description: str, total: int | None, unit: str = "rows"
) -> Iterator[Callable[[int], None]]:
    """Show a progress bar on stderr; yield ``advance(amount)``.

    Args:
        description: the label left of the bar.
        total: the amount at completion (``None``: unknown).
        unit: ``"bytes"`` shows sizes and speeds, anything else counts.

    The bar is filled to ``total`` when the block ends normally, since callers report in
    coarse steps (every 1,000 events, every 2,048 lines). Off when stderr is not a terminal.
    """
    amount = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        amount,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task(description, total=total)

        def advance(step: int) -> None:
            progress.advance(task, step)

        yield advance
        if total is not None:
            progress.update(task, completed=total)


def bad_rows(what: str, errors: Sequence[tuple[int, str]], kept: int) -> None:
    """Report rejected rows on stderr: their count, then the first few with line numbers."""
    if not errors:
        return
    err.print(
        f"[yellow]warning:[/] {len(errors)} bad row(s) in {escape(what)} skipped, "
        f"{kept} kept; first {min(len(errors), BAD_ROWS_SHOWN)}:",
        soft_wrap=True,
    )
    for line, message in errors[:BAD_ROWS_SHOWN]:
        err.print(f"  line {line}: {escape(message)}", soft_wrap=True)


def summary(title: str, values: Mapping[str, Any], as_json: bool = False) -> None:
    """Show named figures as a table; with ``as_json`` also print them as one JSON line.

    With ``as_json`` the table goes to stderr and stdout receives only the JSON object.
    """
    if as_json:
        err.print(metrics_table(title, values))
        out.file.write(json.dumps(dict(values)) + "\n")
        out.file.flush()
    else:
        out.print(metrics_table(title, values))


def comparison(title: str, rows: Sequence[Mapping[str, Any]], k: int, as_json: bool) -> None:
    """Configurations side by side; with ``as_json`` one ``{"configurations": rows}`` line."""
    table = Table(title=title, title_justify="left")
    columns = ("name", f"hr@{k}", f"ndcg@{k}", f"coverage@{k}", f"novelty@{k}", "events_per_second")
    for column in columns:
        table.add_column(column, justify="left" if column == "name" else "right")
    for row in rows:
        table.add_row(*(str(row[column]) for column in columns))
    if as_json:
        err.print(table)
        out.file.write(json.dumps({"configurations": list(rows)}) + "\n")
        out.file.flush()
    else:
        out.print(table)


def metrics_table(title: str, values: Mapping[str, Any]) -> Group:
    """Return a heading over a two-column table of named figures (floats to 5 digits)."""
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in values.items():
        shown = f"{value:.5g}" if isinstance(value, float) else str(value)
        table.add_row(name, shown)
    return Group(Text(title, style="bold"), table)


def describer(engine: Engine) -> Callable[[str], tuple[str, str]]:
    """Return ``item_id -> (title, categories)``; items known only from events are blank."""

    def describe(item_id: str) -> tuple[str, str]:
        try:
            item = engine.get_item(item_id)
        except UnknownItemError:
            return "", ""
        return item.title, ", ".join(item.categories)

    return describe


def recommendations_table(
    title: str,
    recommendations: Sequence[Recommendation],
    describe: Callable[[str], tuple[str, str]],
    highlight: Callable[[str], bool] | None = None,
) -> Table:
    """Return a table of ranked items: position, id, title, categories, score, why.

    Args:
        title: caption above the table.
        recommendations: best first.
        describe: ``item_id -> (title, categories)`` for display.
        highlight: rows for which it returns True are shown in bold green.
    """
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("item")
    table.add_column("title")
    table.add_column("categories")
    table.add_column("score", justify="right")
    table.add_column("why")
    for position, rec in enumerate(recommendations, 1):
        name, categories = describe(rec.item_id)
        style = "bold green" if highlight is not None and highlight(rec.item_id) else None
        table.add_row(
            str(position),
            escape(rec.item_id),
            escape(name),
            escape(categories),
            f"{rec.score:.3f}",
            escape(", ".join(rec.why)),
            style=style,
        )
    if not recommendations:
        table.add_row("", "(nothing to recommend)", "", "", "", "")
    return table


@dataclass
class ShopTraffic:
    """What the demo counts while it ingests a synthetic shop's events.

    Attributes:
        main_category: item id to its first category.
        activity: events per user.
        popularity: events per item.
        tastes: per user, events per main category.
        category_popularity: events per main category.
        last_time: timestamp of the latest event recorded (unix seconds).
    """

    main_category: dict[str, str]
    activity: Counter[str] = field(default_factory=Counter)
    popularity: Counter[str] = field(default_factory=Counter)
    tastes: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    category_popularity: Counter[str] = field(default_factory=Counter)
    last_time: float = 0.0

    def record(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Count a batch of event dicts (``SyntheticShop.events`` shape, time-ordered)."""
        for event in events:
            category = self.main_category[event["item_id"]]
            self.activity[event["user_id"]] += 1
            self.popularity[event["item_id"]] += 1
            self.tastes[event["user_id"]][category] += 1
            self.category_popularity[category] += 1
            self.last_time = max(self.last_time, float(event["timestamp"]))


def demo_tour(engine: Engine, shop: SyntheticShop, traffic: ShopTraffic, n: int = 5) -> None:
    """Show three users' answers, then one user's answers changing with each live click.

    The users are the most active one and those at the quarter and half of the activity
    ranking. The last of them clicks the three most popular items of the category they
    touched least (the most popular such category with three items or more), one event at a
    time, and the answer is shown after each (read-your-writes). Ends with the items similar
    to the most popular one.
    """
    describe = describer(engine)
    ranked = [user_id for user_id, _ in traffic.activity.most_common()]
    if not ranked:
        return
    chosen = [ranked[i] for i in sorted({0, len(ranked) // 4, len(ranked) // 2})]
    for user_id in chosen:
        taste = ", ".join(shop.user_top_categories(user_id, 3, at=traffic.last_time))
        title = f"{user_id}: {traffic.activity[user_id]} events; true taste now: {taste}"
        out.print(recommendations_table(title, engine.recommend(user_id, n), describe))
    user_id, popular = chosen[-1], traffic.category_popularity
    sizes = Counter(traffic.main_category.values())
    options = [c for c in popular if sizes[c] >= 3] or list(popular)
    new = min(options, key=lambda c: (traffic.tastes[user_id][c], -popular[c]))

    def in_new(item_id: str) -> bool:
        return traffic.main_category.get(item_id) == new

    in_category = [i for i in traffic.main_category if in_new(i)]
    picks = sorted(in_category, key=lambda i: -traffic.popularity[i])[:3]
    out.rule(f"live: {user_id} clicks on {new}, a category they barely touched")
    for step, item_id in enumerate(picks, 1):
        event = {"user_id": user_id, "item_id": item_id, "type": "click"}
        engine.ingest([{**event, "timestamp": traffic.last_time + 60 * step}])
        recs = engine.recommend(user_id, n)
        hits = sum(in_new(r.item_id) for r in recs)
        title = f"after click {step} on {item_id} ({describe(item_id)[0]}): {hits}/{n} {new}"
        out.print(recommendations_table(title, recs, describe, in_new))
    top = traffic.popularity.most_common(1)[0][0]
    title = f"similar to {top} ({describe(top)[0]}, {traffic.main_category[top]})"
    out.print(recommendations_table(title, engine.similar(top, n), describe))
