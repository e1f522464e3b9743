"""Terminal presentation for ``freshrec.cli``: consoles, progress bars, tables and help.

Machine-readable output (``--json``) is the only thing a command writes to stdout when asked
for it; everything meant for people (tables, progress, warnings) can go to stderr instead, so
``freshrec replay --json | jq`` works. Progress bars show only when stderr is a terminal.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.filesize import decimal
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from typer import _click as click  # typer vendors click: these are the classes it builds
from typer.core import TyperGroup, TyperOption

from freshrec.engine import Engine
from freshrec.errors import UnknownItemError
from freshrec.serving.auth import KeyInfo, KeyStatus
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


class _Amount(ProgressColumn):
    """Done of total: sizes for a ``unit="bytes"`` task, counts for any other."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = DownloadColumn()
        self._count = MofNCompleteColumn()

    def render(self, task: Task) -> Text:
        column = self._bytes if task.fields.get("unit") == "bytes" else self._count
        return column.render(task)


class _Rate(ProgressColumn):
    """Speed in the task's unit: ``4,512 events/s``, ``1.2 MB/s`` (blank until measured)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("")
        unit = task.fields.get("unit") or ""
        if unit == "bytes":
            return Text(f"{decimal(int(speed))}/s", style="progress.data.speed")
        shown = f"{speed:,.0f}" if speed >= 10 else f"{speed:.2g}"
        return Text(f"{shown} {unit}/s".replace(" /s", "/s"), style="progress.data.speed")


class Bars:
    """Progress bars on one display, made by ``progress_bars``.

    ``add`` makes a bar and returns its ``advance(amount)``; ``step`` is the callback shape
    of the library's multi-step work (``freshrec.training.trainer.StepProgress``): one bar
    per step name, made when the step first reports.
    """

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: list[TaskID] = []
        self._steps: dict[str, TaskID] = {}

    def add(
        self, description: str, total: int | None, unit: str = "rows", start: bool = True
    ) -> Callable[[int], None]:
        """Add a bar; return ``advance(amount)``.

        Args:
            description: the label left of the bar.
            total: the amount at completion (``None``: unknown).
            unit: ``"bytes"`` shows sizes and speeds; anything else counts, ``N unit/s``.
            start: False starts the clock (elapsed, rate, ETA) at the first advance, for a
                bar shown while earlier work still runs.
        """
        progress = self._progress
        task = progress.add_task(description, total=total, start=start, unit=unit)
        self._tasks.append(task)
        started = start

        def advance(amount: int) -> None:
            nonlocal started
            if not started:
                progress.start_task(task)
                started = True
            progress.advance(task, amount)

        return advance

    def step(self, name: str, done: int, total: int) -> None:
        """Show step ``name`` at ``done`` of ``total`` (its bar is made on its first report)."""
        task = self._steps.get(name)
        if task is None:
            task = self._steps[name] = self._progress.add_task(name, total=total, unit="")
            self._tasks.append(task)
        self._progress.update(task, completed=done, total=total)

    def fill(self) -> None:
        """Fill every bar with a known total (callers report in coarse steps)."""
        for task in self._tasks:
            total = self._progress.tasks[task].total
            if total is not None:
                self._progress.update(task, completed=total)


@contextmanager
def progress_bars() -> Iterator[Bars]:
    """Show progress bars (label, bar, percent, amount, rate, elapsed, ETA) on stderr.

    Yields a ``Bars`` to add them to. The bars are filled to their totals when the block
    ends normally. Off when stderr is not a terminal, so logs and ``--json`` stay clean.
    """
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        _Amount(),
        _Rate(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    with progress:
        bars = Bars(progress)
        yield bars
        bars.fill()


@contextmanager
def progress_bar(
    description: str, total: int | None, unit: str = "rows"
) -> Iterator[Callable[[int], None]]:
    """Show one progress bar on stderr (see ``progress_bars``); yield ``advance(amount)``."""
    with progress_bars() as bars:
        yield bars.add(description, total, unit)


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


def keys_table(
    title: str, keys: Sequence[KeyInfo], when: Callable[[float | None, str], str]
) -> Table:
    """Return a table of API keys: id, scope, created, last used, expires, status.

    Args:
        title: caption above the table.
        keys: as ``KeyStore.list_keys`` returns them.
        when: ``(unix seconds or None, text for None) -> shown time``.
    """
    table = Table(title=title, title_justify="left")
    table.add_column("id", no_wrap=True)  # copied into `freshrec keys revoke`
    for column in ("scope", "created", "last used", "expires", "status"):
        table.add_column(column)
    styles = {KeyStatus.ACTIVE: "green", KeyStatus.EXPIRED: "yellow", KeyStatus.REVOKED: "red"}
    for key in keys:
        status = key.status.value
        if key.status is KeyStatus.REVOKED:
            status = f"revoked {when(key.revoked_at, '')}"
        table.add_row(
            key.key_id,
            key.scope.value,
            when(key.created_at, ""),
            when(key.last_used_at, "never"),
            when(key.expires_at, "never"),
            Text(status, style=styles[key.status]),
        )
    return table


def _hide_flag_types(params: Sequence[click.Parameter | None]) -> None:
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""  # typer prints the metavar instead of the type when one is set


class FlagHelpGroup(TyperGroup):
    """A command group whose ``--help`` pages show no ``<bool>`` beside flags.

    typer's rich help prints a type beside every option, flags included (``--json <bool>``,
    ``--help <bool>``), though a flag takes no value. This clears it for the group's own
    flags and for those of every command it hands out; groups nested in it need this class
    too (``typer.Typer(cls=FlagHelpGroup)``).
    """

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        """Return the group's parameters, its flags without a type in the help."""
        params = super().get_params(ctx)
        _hide_flag_types(params)
        return params

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return the command named ``cmd_name``, its flags without a type in the help."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _hide_flag_types(command.get_params(ctx))
        return command


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
