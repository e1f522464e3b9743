"""The ``freshrec`` command line: replay, evaluate, simulate, import, train, recommend, demo.

Every command turns freshrec's own errors (``FreshrecError``: unreadable files, bad rows
with ``--strict``, unknown ids) into one ``error:`` line on stderr and exit code 2; missing
paths are refused the same way before anything runs. Progress bars and warnings go to
stderr, so with ``--json`` stdout holds exactly one JSON object.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from freshrec import __version__, scenarios
from freshrec import cli_output as show
from freshrec.cli_experiment import register as register_experiment
from freshrec.config import EngineConfig
from freshrec.engine import DB_FILE, Engine
from freshrec.errors import (
    FreshrecError,
    ReadError,
    UnknownScenarioError,
    ValidationError,
)
from freshrec.evaluation import replay as replay_log
from freshrec.evaluation import temporal_split_evaluate
from freshrec.evaluation.replay import ReplayReport
from freshrec.readers import read_events_any, read_items, read_movielens
from freshrec.readers.files import (
    BadRow,
    RowCollector,
    csv_rows,
    file_format,
    jsonl_rows,
    open_lines,
)
from freshrec.readers.movielens import detect_layout
from freshrec.serving.cli_serve import register as register_serving
from freshrec.simulate import ShopConfig, SyntheticShop, write_shop
from freshrec.types import USER_FIELDS, Event, Item, User, parse_user

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

app = typer.Typer(
    name="freshrec",
    help="freshrec: a real-time recommendation engine where every event changes the next answer.",
    no_args_is_help=True,
    add_completion=False,
    cls=show.FlagHelpGroup,
)
register_serving(app)
register_experiment(app)


def print_version(asked: bool) -> None:
    """``--version``: print ``freshrec <version>`` and stop before any command runs."""
    if asked:
        typer.echo(f"freshrec {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """freshrec: a real-time recommendation engine where every event changes the next answer."""


EventsOption = Annotated[
    Path,
    typer.Option("--events", exists=True, help="Event file (.csv/.jsonl[.gz]) or MovieLens dir."),
]
ItemsOption = Annotated[
    Path | None, typer.Option("--items", exists=True, dir_okay=False, help="Item file.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", exists=True, dir_okay=False, help="Engine settings (JSON)."),
]
StrictOption = Annotated[bool, typer.Option("--strict", help="A bad row rejects the whole file.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
KOption = Annotated[int, typer.Option("--k", min=1, max=1000, help="Cutoff of the top-k lists.")]
NOption = Annotated[int, typer.Option("--n", min=1, max=1000, help="How many items to show.")]
ScenarioOption = Annotated[str, typer.Option("--scenario", help="Scenario that answers.")]
StoreOption = Annotated[
    Path,
    typer.Option("--data", exists=True, file_okay=False, help="Data directory of an engine."),
]


class EventsFormat(enum.StrEnum):
    """File format of generated events."""

    csv = "csv"
    jsonl = "jsonl"


def friendly(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command: a ``FreshrecError`` or ``OSError`` prints one line and exits with 2."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (FreshrecError, OSError) as exc:
            show.error(str(exc))
            raise typer.Exit(2) from None

    return run


# -- reading inputs ---------------------------------------------------------------------------


def load_config(path: Path | None) -> EngineConfig:
    """Return the settings in ``path`` (defaults when None); raises ``ReadError``."""
    if path is None:
        return EngineConfig()
    try:
        return EngineConfig.from_file(path)
    except (OSError, ValueError) as exc:  # JSON and encoding errors are ValueErrors
        raise ReadError(f"{path}: not usable engine settings: {exc}") from None


def load_partial(path: Path) -> dict[str, Any]:
    """Return the partial settings tree in ``path``; raises ``ReadError``."""
    try:
        partial = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReadError(f"{path}: not a JSON settings object: {exc}") from None
    if not isinstance(partial, dict):
        raise ReadError(f"{path}: expected a JSON object of settings")
    return partial


def without_auto_retrain(config: EngineConfig) -> EngineConfig:
    """Return ``config`` with automatic retrains off (bulk loads train once at the end)."""
    training = config.training.model_copy(update={"retrain_every_events": 0})
    return config.model_copy(update={"training": training})


@contextmanager
def reading(path: Path, size: int) -> Iterator[Callable[[int], None]]:
    """Show a byte progress bar while ``path`` is read; name the file in a ``ReadError``."""
    try:
        with show.progress_bar(f"reading {path.name}", size, "bytes") as advance:
            yield advance
    except ReadError as exc:
        message = str(exc.args[0])
        if path.name in message:
            raise
        raise ReadError(f"{path.name}: {message}", exc.line) from None


def load_log(
    events: Path, items: Path | None, config: EngineConfig, strict: bool
) -> tuple[list[Event], list[Item], int]:
    """Read events and the catalogue, showing progress and reporting bad rows on stderr.

    A MovieLens directory brings its own movies; ``items`` replaces them when given.

    Returns:
        The events in file order, the items, and how many bad rows were skipped.
    """
    catalogue: list[Item] = []
    if events.is_dir():
        with reading(events, (events / detect_layout(events).ratings).stat().st_size) as advance:
            movielens = read_movielens(events, strict=strict, progress=advance)
        show.bad_rows(str(events), movielens.errors, len(movielens.events))
        log, catalogue, bad = movielens.events, movielens.items, len(movielens.errors)
    else:
        with reading(events, events.stat().st_size) as advance:
            read = read_events_any(events, config.events.weights, strict, advance)
        show.bad_rows(events.name, read.errors, len(read.records))
        log, bad = read.records, len(read.errors)
    if items is not None:
        with reading(items, items.stat().st_size) as advance:
            read_catalogue = read_items(items, strict, advance)
        show.bad_rows(items.name, read_catalogue.errors, len(read_catalogue.records))
        catalogue, bad = read_catalogue.records, bad + len(read_catalogue.errors)
    return log, catalogue, bad


def load_users(path: Path, strict: bool) -> tuple[list[User], int]:
    """Read user profiles from CSV (``properties`` as JSON text) or JSON Lines.

    Returns:
        The valid profiles in file order and how many bad rows were skipped.
    """
    collector: RowCollector[User] = RowCollector(strict)
    is_csv = file_format(path) == "csv"
    with reading(path, path.stat().st_size) as advance, open_lines(path, progress=advance) as lines:
        rows: Iterator[tuple[int, Any]] = (
            csv_rows(lines, allowed=USER_FIELDS, required=("user_id",))
            if is_csv
            else jsonl_rows(lines)
        )
        for line, row in rows:
            try:
                if isinstance(row, BadRow):
                    raise ValidationError(row.message)
                if is_csv and "properties" in row:
                    row = {**row, "properties": json.loads(row["properties"])}
                collector.keep(parse_user(row))
            except ValidationError as exc:
                collector.reject(line, str(exc))
            except json.JSONDecodeError as exc:
                collector.reject(line, f"properties: not valid JSON: {exc.msg}")
    show.bad_rows(path.name, collector.result.errors, len(collector.result.records))
    return collector.result.records, len(collector.result.errors)


def open_store(data: Path, config: EngineConfig) -> Engine:
    """Open the engine in an existing data directory; raises ``ReadError`` if it has none."""
    if not (data / DB_FILE).is_file():
        raise ReadError(f"{data}: no freshrec data here (create it with `freshrec import`)")
    return Engine.open(data, config, background_training=False)


def check_scenario(scenario: str) -> None:
    """Raise ``UnknownScenarioError`` before any work when ``scenario`` is not configured."""
    if scenario not in scenarios.SCENARIOS:
        raise UnknownScenarioError(scenario, list(scenarios.SCENARIOS))


def shop_config(users: int, items: int, events: int, seed: int) -> ShopConfig:
    """Return a ``ShopConfig``, turning its complaints into ``ValidationError``."""
    try:
        return ShopConfig(n_users=users, n_items=items, n_events=events, seed=seed)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def batches(records: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield consecutive lists of ``size`` records (the last one may be shorter)."""
    batch: list[T] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- commands ---------------------------------------------------------------------------------


@app.command()
@friendly
def replay(
    events: EventsOption,
    items: ItemsOption = None,
    scenario: ScenarioOption = scenarios.HOME,
    k: KOption = 10,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    strict: StrictOption = False,
    compare: Annotated[
        list[Path] | None,
        typer.Option(
            "--settings",
            exists=True,
            dir_okay=False,
            metavar="<file>",
            help="A partial settings tree (JSON) over --config; repeat to compare several.",
        ),
    ] = None,
) -> None:
    """Prequential replay: before each new positive event, ask for the top-k; then learn it.

    With two or more `--settings` the same stream is replayed through each configuration
    and the figures are printed side by side (`--json`: `{"configurations": [...]}`).
    """
    check_scenario(scenario)
    base = load_config(config)
    variants = [(path.stem, base.merged(load_partial(path))) for path in compare or ()]
    log, catalogue, _ = load_log(events, items, base, strict)
    if len(variants) < 2:
        settings = variants[0][1] if variants else base
        report = replay_with_progress(log, catalogue, k, scenario, settings, "replaying")
        show.summary(f"replay of {events.name} (scenario {scenario})", report.to_dict(), as_json)
        return
    rows = []
    for (name, settings), path in zip(variants, compare or (), strict=True):
        report = replay_with_progress(log, catalogue, k, scenario, settings, f"replaying ({name})")
        rows.append({"name": name, "settings": str(path), **report.to_dict()})
    show.comparison(f"replay of {events.name} (scenario {scenario})", rows, k, as_json)


def replay_with_progress(
    log: list[Event],
    catalogue: list[Item],
    k: int,
    scenario: str,
    settings: EngineConfig,
    label: str,
) -> ReplayReport:
    """Return ``replay_log``'s report, with progress bars for the catalogue and the events.

    Loading the catalogue has the language model read every item text, which can take
    minutes before the first event; the events' bar starts its clock at the first event.
    """
    with show.progress_bars() as bars:
        loading = bars.add("loading items", len(catalogue), "items") if catalogue else None
        replaying = bars.add(label, len(log), "events", start=not catalogue)
        return replay_log(log, catalogue, k, scenario, settings, replaying, loading=loading)


@app.command()
@friendly
def evaluate(
    events: EventsOption,
    items: ItemsOption = None,
    k: KOption = 10,
    test_fraction: Annotated[
        float, typer.Option("--test-fraction", min=0.0, max=1.0, help="Share held out.")
    ] = 0.2,
    scenario: ScenarioOption = scenarios.HOME,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    strict: StrictOption = False,
) -> None:
    """Temporal split: train on the oldest events, score one top-k list per user on the rest."""
    check_scenario(scenario)
    settings = load_config(config)
    log, catalogue, _ = load_log(events, items, settings, strict)
    with show.progress_bars() as bars:
        summary = temporal_split_evaluate(
            log, catalogue, k, test_fraction, settings, scenario, bars.step
        )
    show.summary(f"temporal split of {events.name}", summary, as_json)


@app.command()
@friendly
def simulate(
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Folder to write.")],
    users: Annotated[int, typer.Option(min=1, help="Shoppers (user ids u0..).")] = 1_000,
    items: Annotated[int, typer.Option(min=1, help="Catalogue items (ids i0..).")] = 500,
    events: Annotated[int, typer.Option(min=0, help="Events to generate.")] = 100_000,
    seed: Annotated[int, typer.Option(help="The same seed writes the same shop.")] = 0,
    events_format: Annotated[
        EventsFormat, typer.Option("--format", help="Event file format.")
    ] = EventsFormat.csv,
) -> None:
    """Write a synthetic shop: items.jsonl, users.jsonl and an event file."""
    config = shop_config(users, items, events, seed)
    with show.progress_bar("generating events", events, "events") as advance:
        files = write_shop(out, config, events_format=events_format.value, progress=advance)
    summary = {
        "items": f"{items:,} in {files.items}",
        "users": f"{users:,} in {files.users}",
        "events": f"{events:,} in {files.events}",
    }
    show.summary(f"synthetic shop (seed {seed})", summary)


def with_content_ids(events: Iterable[Event]) -> Iterator[dict[str, Any]]:
    """Yield events as dicts, giving those without an id one derived from their content.

    Exports without ids (MovieLens, most click logs) would otherwise be stored twice when the
    same file is imported twice. The id is a hash of the event's fields plus how many
    identical events came before it in the file, so real repeats (two views in the same
    second) stay distinct while a re-import of the same file counts as duplicates.
    """
    occurrences: dict[str, int] = {}
    for event in events:
        record = event._asdict()
        if event.event_id is None:
            key = "\x1f".join(
                (event.user_id, event.item_id, event.type, repr(event.timestamp), repr(event.value))
            )
            seen = occurrences[key] = occurrences.get(key, 0) + 1
            digest = hashlib.blake2b(f"{key}\x1f{seen}".encode(), digest_size=12).hexdigest()
            record["event_id"] = "c:" + digest
        yield record


@app.command("import")
@friendly
def import_(
    data: Annotated[Path, typer.Option("--data", file_okay=False, help="Data directory.")],
    events: EventsOption,
    items: ItemsOption = None,
    users: Annotated[
        Path | None, typer.Option("--users", exists=True, dir_okay=False, help="User file.")
    ] = None,
    strict: StrictOption = False,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Events per ingest call.")] = 1000,
    no_train: Annotated[
        bool,
        typer.Option("--no-train", help="Do not train after the import (`freshrec train` later)."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Load items, users and events into a durable engine (all files are read first).

    Then trains once, unless --no-train or the log is shorter than training.min_events.
    """
    settings = load_config(config)
    # Read (and with --strict validate) everything before the store is opened: a rejected
    # file leaves nothing behind.
    log, catalogue, bad = load_log(events, items, settings, strict)
    profiles, bad_users = load_users(users, strict) if users is not None else ([], 0)
    accepted = duplicates = 0
    rejected: list[tuple[int, str]] = []
    with Engine.open(data, without_auto_retrain(settings), background_training=False) as engine:
        # Item texts are encoded by the language model as they are upserted (inline here,
        # no background worker in a one-shot import): chunks make that a progress bar.
        with show.progress_bar("loading items", len(catalogue), "items") as advance:
            for chunk in batches([item.to_dict() for item in catalogue], 256):
                engine.upsert_items(chunk)
                advance(len(chunk))
        # Only the catalogue makes items recommendable: without an item file, the events
        # file is the catalogue, and its item ids are listed here, explicitly.
        listed = 0 if catalogue else engine.list_bare_items(event.item_id for event in log)
        engine.upsert_users(user.to_dict() for user in profiles)
        with show.progress_bar("ingesting", len(log), "events") as advance:
            records = list(with_content_ids(log))
            for start, chunk in enumerate(batches(records, batch)):
                result = engine.ingest(chunk)
                accepted += result.accepted
                duplicates += result.duplicates
                rejected += [(start * batch + i + 1, text) for i, text in result.errors]
                advance(len(chunk))
        if not no_train and engine.stats()["events"] >= settings.training.min_events:
            with show.progress_bars() as bars:
                engine.train(bars.step)
        stats = engine.stats()
    # The rows were valid when read; the engine re-checks them against its own clock.
    show.bad_rows("the valid events (numbered from 1)", rejected, accepted + duplicates)
    summary = {
        "items": len(catalogue),
        "items listed from the events": listed,
        "item ids not in the catalogue": stats["unlisted_items"],
        "users": len({event.user_id for event in log} | {user.user_id for user in profiles}),
        "user profiles": len(profiles),
        "events read": len(log),
        "accepted": accepted,
        "duplicates": duplicates,
        "bad rows": bad + bad_users + len(rejected),
        "items stored": stats["catalogue_items"],
        "users stored": stats["users"],
        "events stored": stats["events"],
        "model version": stats["model_version"],
    }
    show.summary(f"import into {data}", summary)


@app.command()
@friendly
def train(data: StoreOption, config: ConfigOption = None) -> None:
    """Retrain the batch models on the whole log and save the new version."""
    with open_store(data, load_config(config)) as engine:
        started = time.perf_counter()
        with show.progress_bars() as bars:
            version = engine.train(bars.step)
        seconds = round(time.perf_counter() - started, 3)
        summary = {"version": version, "seconds": seconds, **engine.stats()}
    show.summary(f"trained {data}", summary)


@app.command()
@friendly
def recommend(
    data: StoreOption,
    user: Annotated[str, typer.Option("--user", help="User id.")],
    n: NOption = 10,
    scenario: ScenarioOption = scenarios.HOME,
    config: ConfigOption = None,
) -> None:
    """Show a user's recommendations, with the reasons behind each."""
    with open_store(data, load_config(config)) as engine:
        recent = engine.history(user)[-5:]
        recs = engine.recommend(user, n, scenario)
        table = show.recommendations_table(f"{scenario} for {user}", recs, show.describer(engine))
    if recent:
        show.out.print(f"recently: {', '.join(recent)}")
    else:
        show.out.print(
            f"{user} has no history: a new user's answer (from their profile, if stored, "
            "and what is trending)"
        )
    show.out.print(table)


@app.command()
@friendly
def similar(
    data: StoreOption,
    item: Annotated[str, typer.Option("--item", help="Item id.")],
    n: NOption = 10,
    config: ConfigOption = None,
) -> None:
    """Show the items most similar to one item."""
    with open_store(data, load_config(config)) as engine:
        recs = engine.similar(item, n)
        table = show.recommendations_table(f"similar to {item}", recs, show.describer(engine))
    show.out.print(table)


DEMO_SIZES = {"users": 300, "items": 400, "events": 30_000}
SERVED_DEMO_SIZES = {"users": 2_000, "items": 1_000, "events": 50_000}


@app.command()
@friendly
def demo(
    users: Annotated[
        int | None, typer.Option(min=1, help="Shop users (default 300; 2000 with --serve).")
    ] = None,
    items: Annotated[
        int | None, typer.Option(min=1, help="Shop items (default 400; 1000 with --serve).")
    ] = None,
    events: Annotated[
        int | None,
        typer.Option(min=1, help="Events loaded first (default 30000; 50000 with --serve)."),
    ] = None,
    seed: int = 0,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            file_okay=False,
            help="Keep the data here (with --serve: reopened as it is if it holds events).",
        ),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve", help="Serve the API and dashboard, with live traffic sent through HTTP."
        ),
    ] = False,
    host: Annotated[
        str | None, typer.Option(help="With --serve: interface (default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="With --serve: TCP port, 0 for any (default 8000)."),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(min=0.1, help="With --serve: simulated events per second (default 200)."),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(min=0.0, help="With --serve: stop after this many seconds of traffic."),
    ] = None,
) -> None:
    """End-to-end tour: a synthetic shop, live events, and answers that follow each one.

    --serve: the HTTP API and dashboard, with simulated shoppers acting through the API.
    """
    sizes = SERVED_DEMO_SIZES if serve else DEMO_SIZES
    shop = shop_config(
        users if users is not None else sizes["users"],
        items if items is not None else sizes["items"],
        events if events is not None else sizes["events"],
        seed,
    )
    if serve:
        serve_demo(shop, data, host, port, rate, duration)
        return
    if any(option is not None for option in (host, port, rate, duration)):
        raise typer.BadParameter("--host, --port, --rate and --duration need --serve")
    terminal_demo(shop, data)


def serve_demo(
    shop: ShopConfig,
    data: Path | None,
    host: str | None,
    port: int | None,
    rate: float | None,
    duration: float | None,
) -> None:
    """Run ``freshrec demo --serve`` (see ``freshrec.demo_server``); None means the default."""
    from freshrec import demo_server  # imports FastAPI and uvicorn: only when serving

    options = demo_server.DemoOptions(shop=shop, data=data, duration=duration)
    if host is not None:
        options = dataclasses.replace(options, host=host)
    if port is not None:
        options = dataclasses.replace(options, port=port)
    if rate is not None:
        options = dataclasses.replace(options, rate=rate)
    demo_server.run(options)


def terminal_demo(config: ShopConfig, data: Path | None) -> None:
    """Run the terminal tour over ``config``'s shop, in memory or kept in ``data``."""
    started = time.perf_counter()
    users, items, events, seed = config.n_users, config.n_items, config.n_events, config.seed
    shop = SyntheticShop(config)
    catalogue = list(shop.items())
    traffic = show.ShopTraffic({record["item_id"]: record["categories"][0] for record in catalogue})
    show.out.rule("freshrec demo")
    show.out.print(f"A synthetic shop: {users} users, {items} items, {events} events (seed {seed})")
    settings = without_auto_retrain(EngineConfig())
    with Engine.open(data, settings, background_training=False) as engine:
        engine.upsert_items(catalogue)
        engine.upsert_users(shop.users())
        with show.progress_bar("ingesting", events, "events") as advance:
            for chunk in batches(shop.events(), 1000):
                engine.ingest(chunk)
                traffic.record(chunk)
                advance(len(chunk))
        version = engine.train()
        show.out.print(f"Trained model {version}; {engine.stats()['events']} events in the log.\n")
        show.demo_tour(engine, shop, traffic)
    show.out.print(f"Done in {time.perf_counter() - started:.1f} s.")


if __name__ == "__main__":
    app()
