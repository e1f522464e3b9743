"""The command line's guidance: --version, help pages, progress, port checks, plain English."""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

import freshrec
from conftest import EventFactory, small_config
from freshrec import Engine, EngineConfig, cli_output
from freshrec.cli import app
from freshrec.content.embeddings import EmbeddingTable
from freshrec.content.indexer import ContentIndexer
from freshrec.content.keywords import KeywordEncoder
from freshrec.evaluation import replay, temporal_split_evaluate
from freshrec.evaluation.split import INGEST_STEP, LOADING_STEP
from freshrec.readers import read_events_any, read_items
from freshrec.simulate import ShopConfig, ShopFiles, SyntheticShop, write_shop
from freshrec.simulate.vocabulary import indefinite_article, with_article
from freshrec.training.trainer import EASE_STEP, FACTORS_STEP

SMALL_SHOP = ShopConfig(n_users=30, n_items=40, n_events=2_000, seed=4)
LAUNCH = "from freshrec.cli import app; app(prog_name='freshrec')"
WEIGHTS = EngineConfig().events.weights


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> ShopFiles:
    return write_shop(tmp_path_factory.mktemp("shop"), SMALL_SHOP)


def invoke(*args: str | Path) -> typer.testing.Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


# -- --version and --help ---------------------------------------------------------------------


def test_version_prints_the_package_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"freshrec {freshrec.__version__}\n"


def command_paths() -> list[list[str]]:
    """Every command and group of the CLI, as argument lists (``[]`` is the root)."""
    root = typer.main.get_command(app)
    paths: list[list[str]] = [[]]
    context = typer.Context(root)
    for name in root.list_commands(context):  # type: ignore[attr-defined]
        paths.append([name])
        command = root.get_command(context, name)  # type: ignore[attr-defined]
        if hasattr(command, "list_commands"):
            paths += [[name, sub] for sub in command.list_commands(context)]
    return paths


def test_every_help_page_lists_flags_without_type_noise() -> None:
    paths = command_paths()
    assert ["keys", "revoke"] in paths and ["experiment", "simulate"] in paths
    for path in paths:
        result = invoke(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.stdout, (path, result.stdout)
        assert "--help" in result.stdout
    replay_help = invoke("replay", "--help").stdout
    assert "--json" in replay_help and "--strict" in replay_help  # the flags are still shown
    assert "--no-json" not in replay_help and "--no-strict" not in replay_help
    import_help = flat(invoke("import", "--help").stdout)
    assert "--no-train" in import_help and "--train " not in import_help


# -- progress ---------------------------------------------------------------------------------


def test_replay_shows_progress_on_a_terminal_and_keeps_the_json_line(
    shop: ShopFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = io.StringIO()
    console = Console(file=terminal, force_terminal=True, width=150, highlight=False)
    monkeypatch.setattr(cli_output, "err", console)
    result = invoke("replay", "--events", shop.events, "--items", shop.items, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["events"] == 2_000
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.getvalue())
    assert "loading items" in shown and "40/40" in shown
    assert "replaying" in shown and "2000/2000" in shown
    assert re.search(r"[\d,.]+ events/s", shown), shown[-2000:]
    assert "\x1b" not in result.stdout  # the bars never reach stdout


def test_progress_bars_stay_off_when_stderr_is_not_a_terminal(shop: ShopFiles) -> None:
    result = invoke("replay", "--events", shop.events, "--items", shop.items, "--json")
    assert result.exit_code == 0, result.output
    assert "replaying" not in result.stderr and "events/s" not in result.stderr


def test_replay_reports_the_catalogue_it_loads(shop: ShopFiles) -> None:
    events = read_events_any(shop.events, WEIGHTS).records
    items = read_items(shop.items).records
    loaded: list[int] = []
    replayed: list[int] = []
    report = replay(events, items, progress=replayed.append, loading=loaded.append)
    assert sum(loaded) == len(items) == 40
    assert sum(replayed) == 2_000 == report.events


def test_train_reports_its_steps_in_order(make_events: EventFactory) -> None:
    config = small_config(blend={"ease": 0.2})
    steps: list[tuple[str, int, int]] = []
    with Engine.open(None, config, background_training=False) as engine:
        engine.ingest(make_events(n_events=400))
        engine.train(lambda step, done, total: steps.append((step, done, total)))
    # Inline engines encode item texts as they are upserted: nothing waits at train time.
    assert list(dict.fromkeys(step for step, _, _ in steps)) == [FACTORS_STEP, EASE_STEP]
    sweeps = [(done, total) for step, done, total in steps if step == FACTORS_STEP]
    assert sweeps == [(n, 6) for n in range(7)]  # 0 .. iterations, 6 in small_config
    assert [done for step, done, _ in steps if step == EASE_STEP] == [0, 1]


def test_encoding_what_waits_reports_items_done_of_all() -> None:
    encoder = KeywordEncoder(dim=16)
    indexer = ContentIndexer(
        encoder, EmbeddingTable(encoder.name, encoder.version, 16), batch_size=4
    )
    indexer.close()  # no worker: what is submitted waits for the flush, in this thread
    indexer.submit(list(range(20)), [f"item number {i}" for i in range(20)])
    reports: list[tuple[int, int]] = []
    indexer.flush(lambda done, total: reports.append((done, total)))
    assert reports == [(16, 20), (20, 20)] and indexer.pending == 0


def test_evaluate_reports_loading_ingest_and_training(shop: ShopFiles) -> None:
    events = read_events_any(shop.events, WEIGHTS).records
    items = read_items(shop.items).records
    steps: list[tuple[str, int, int]] = []
    temporal_split_evaluate(events, items, progress=lambda *step: steps.append(step))
    finished = {step: (done, total) for step, done, total in steps}
    assert finished[LOADING_STEP] == (40, 40)
    assert finished[INGEST_STEP] == (1_600, 1_600)
    assert finished[FACTORS_STEP][0] == finished[FACTORS_STEP][1] > 0


# -- import and serve -------------------------------------------------------------------------


def test_import_reports_users_items_and_events(tmp_path: Path, shop: ShopFiles) -> None:
    data = tmp_path / "data"
    result = invoke(
        "import", "--data", data, "--events", shop.events, "--items", shop.items,
        "--users", shop.users, "--no-train",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = {
        cells[0]: cells[1]
        for row in result.stdout.splitlines()
        if len(cells := [c.strip() for c in row.strip("│ ").split("│")]) == 2
    }
    with Engine.open(data) as engine:
        stats = engine.stats()
    users = {e.user_id for e in read_events_any(shop.events, WEIGHTS).records}
    assert lines["users"] == str(len(users | {f"u{i}" for i in range(30)}))
    assert lines["user profiles"] == "30"
    assert lines["items"] == "40" and lines["items stored"] == str(stats["catalogue_items"])
    assert lines["users stored"] == str(stats["users"])
    assert lines["events stored"] == "2000"


def test_serve_on_a_taken_port_exits_2_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-c", LAUNCH, "serve", "--data", str(tmp_path / "d"), "--open",
             "--port", str(port)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"port {port}" in result.stderr and "in use" in result.stderr
    assert "--port" in result.stderr
    assert "serving http" not in result.stderr and "loading" not in result.stderr
    assert "Traceback" not in result.stderr and "Errno" not in result.stderr
    assert not (tmp_path / "d").exists()  # refused before the engine created anything


def test_serve_on_an_unknown_host_exits_2_naming_the_options(tmp_path: Path) -> None:
    result = invoke("serve", "--data", tmp_path / "d", "--open", "--host", "no.such.host.invalid")
    assert result.exit_code == 2
    assert "cannot listen on no.such.host.invalid" in result.stderr
    assert "--host" in result.stderr


# -- plain English ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "article"),
    [
        ("adjustable planner", "an"), ("organic cotton", "an"), ("ultralight tent", "an"),
        ("elegant dress", "an"), ("immersive game", "an"), ("sturdy hose", "a"),
        ("universal fit", "a"), ("one-off", "a"), ("European plug", "a"), ("hour", "an"),
        ("honest review", "an"), ("unimportant detail", "an"), ("8-bit", "an"),
        ("18-inch", "an"), ("80s album", "an"), ("1990s album", "a"), ("read", "a"),
        ("admin", "an"), ("ingest", "an"), ("", "a"),
    ],
)  # fmt: skip
def test_indefinite_articles(phrase: str, article: str) -> None:
    assert indefinite_article(phrase) == article
    if phrase:
        assert with_article(phrase) == f"{article} {phrase}"


def test_synthetic_item_texts_use_the_right_article() -> None:
    texts = [item["text"] for item in SyntheticShop(ShopConfig(n_items=2_000, seed=1)).items()]
    assert any(text.startswith("An ") for text in texts)  # vowel adjectives do occur
    assert any(text.startswith("A ") for text in texts)
    for text in texts:
        article, word = text.split()[:2]
        assert article == indefinite_article(word).capitalize(), text


@pytest.mark.parametrize(("scope", "said"), [("admin", "an admin"), ("read", "a read")])
def test_keys_create_says_an_admin_key(tmp_path: Path, scope: str, said: str) -> None:
    result = invoke("keys", "create", "--data", tmp_path, "--scope", scope)
    assert result.exit_code == 0, result.output
    assert f"created {said} key" in result.stderr
