"""The command line through typer's CliRunner, on small files written to tmp_path."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conftest import EventFactory
from freshrec import Engine
from freshrec.cli import app
from freshrec.evaluation import temporal_split_evaluate
from freshrec.simulate import ShopConfig, ShopFiles, write_shop
from freshrec.types import Event

ML100K = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"
REPLAY_KEYS = {"events", "evaluated", "hr@10", "ndcg@10", "events_per_second"}
SMALL_SHOP = ShopConfig(n_users=30, n_items=40, n_events=2_000, seed=4)
# A hand-written log whose fourth physical line is corrupt (a timestamp that is no time).
HAND_CSV = """user_id,item_id,type,timestamp,value
u1,a,click,1700000000,
u1,b,click,1700000010,
u2,a,click,not-a-time,
u2,b,click,1700000030,
u2,c,rating,1700000040,5
u3,a,click,1700000050,
u3,b,purchase,1700000060,
"""


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    """Text with rich's box edges and line wrapping removed, for phrase searches."""
    return " ".join(text.replace("│", " ").split())


def last_json(result: Result) -> dict[str, Any]:
    lines = result.stdout.strip().splitlines()
    assert lines, result.output
    parsed: dict[str, Any] = json.loads(lines[-1])
    return parsed


def write_events_csv(path: Path, events: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, ["user_id", "item_id", "type", "timestamp", "value"])
        writer.writeheader()
        for event in events:
            writer.writerow({key: event.get(key) for key in writer.fieldnames})
    return path


@pytest.fixture
def events_csv(tmp_path: Path, make_events: EventFactory) -> Path:
    return write_events_csv(tmp_path / "events.csv", make_events(n_events=400, with_ids=False))


@pytest.fixture
def hand_csv(tmp_path: Path) -> Path:
    path = tmp_path / "hand.csv"
    path.write_text(HAND_CSV)
    return path


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> ShopFiles:
    return write_shop(tmp_path_factory.mktemp("shop"), SMALL_SHOP)


# -- replay -----------------------------------------------------------------------------------


def test_replay_json_is_the_last_line_with_the_protocol_keys(events_csv: Path) -> None:
    result = invoke("replay", "--events", events_csv, "--json")
    assert result.exit_code == 0, result.output
    report = last_json(result)
    assert report.keys() >= REPLAY_KEYS
    assert report["events"] == 400
    assert report["evaluated"] > 0
    assert 0.0 <= report["hr@10"] <= 1.0
    assert 0.0 <= report["ndcg@10"] <= report["hr@10"]
    # stdout holds the JSON object and nothing else: the table went to stderr.
    assert len(result.stdout.strip().splitlines()) == 1
    assert "hr@10" in result.stderr


def test_replay_metric_keys_follow_k(events_csv: Path) -> None:
    result = invoke("replay", "--events", events_csv, "--k", "5", "--json")
    assert result.exit_code == 0, result.output
    report = last_json(result)
    assert {"hr@5", "ndcg@5"} <= report.keys()
    assert "hr@10" not in report


def test_replay_without_json_prints_a_table(events_csv: Path) -> None:
    result = invoke("replay", "--events", events_csv)
    assert result.exit_code == 0, result.output
    assert "evaluated" in result.stdout and "hr@10" in result.stdout
    assert not result.stdout.lstrip().startswith("{")


def test_replay_reports_the_bad_row_with_its_line_and_keeps_the_rest(hand_csv: Path) -> None:
    result = invoke("replay", "--events", hand_csv, "--json")
    assert result.exit_code == 0, result.output
    assert "1 bad row" in result.stderr
    assert "line 4" in result.stderr and "timestamp" in result.stderr
    report = last_json(result)
    assert report["events"] == 6
    # u1's b, u2's c (rating 5) and u3's b; u2's b is u2's first kept event, so not asked.
    assert report["evaluated"] == 3


def test_replay_strict_rejects_the_file(hand_csv: Path) -> None:
    result = invoke("replay", "--events", hand_csv, "--strict", "--json")
    assert result.exit_code == 2
    assert "hand.csv" in result.stderr and "line 4" in result.stderr
    assert result.stdout.strip() == ""


def test_replay_reads_items_and_rejects_unknown_scenarios(
    shop: ShopFiles, events_csv: Path
) -> None:
    result = invoke("replay", "--events", events_csv, "--items", shop.items, "--json")
    assert result.exit_code == 0, result.output
    assert last_json(result)["events"] == 400
    result = invoke("replay", "--events", events_csv, "--scenario", "nope")
    assert result.exit_code == 2
    assert "unknown scenario 'nope'" in result.stderr


# -- bad input --------------------------------------------------------------------------------


def test_missing_files_exit_2_without_traceback(tmp_path: Path) -> None:
    for args in (
        ("replay", "--events", tmp_path / "missing.csv"),
        ("evaluate", "--events", tmp_path / "missing.csv"),
        ("import", "--data", tmp_path / "d", "--events", tmp_path / "missing.csv"),
        ("train", "--data", tmp_path / "nowhere"),
    ):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "does not exist" in flat(result.output)
        assert "Traceback" not in result.output


def test_unusable_inputs_exit_2_with_one_error_line(tmp_path: Path, events_csv: Path) -> None:
    (tmp_path / "events.txt").write_text("user_id,item_id,type,timestamp\n")
    (tmp_path / "bad.json").write_text('{"factors": {"no_such_setting": 1}}')
    (tmp_path / "empty").mkdir()
    cases = {
        ("replay", "--events", tmp_path / "events.txt"): "unknown file type",
        ("replay", "--events", events_csv, "--config", tmp_path / "bad.json"): "no_such_setting",
        ("replay", "--events", tmp_path / "empty"): "no MovieLens ratings",
        ("recommend", "--data", tmp_path / "empty", "--user", "u1"): "no freshrec data",
        ("evaluate", "--events", events_csv, "--test-fraction", "1"): "test_fraction",
    }
    for args, message in cases.items():
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.stderr and message in result.stderr, result.stderr
        assert "Traceback" not in result.output


# -- import, train, recommend, similar --------------------------------------------------------


def test_import_then_train_recommend_and_similar_through_a_durable_dir(
    tmp_path: Path, shop: ShopFiles
) -> None:
    data = tmp_path / "data"
    result = invoke(
        "import", "--data", data, "--events", shop.events, "--items", shop.items,
        "--users", shop.users, "--batch", "300",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2000" in result.stdout
    with Engine.open(data) as engine:
        stats = engine.stats()
        user_id = max((f"u{i}" for i in range(30)), key=lambda u: len(engine.history(u)))
        expected = [r.item_id for r in engine.recommend(user_id, n=3)]
    assert stats["events"] == 2_000
    assert stats["catalogue_items"] == 40 and stats["user_profiles"] == 30
    assert stats["model_version"] == "v2000"

    result = invoke("recommend", "--data", data, "--user", user_id, "--n", "3")
    assert result.exit_code == 0, result.output
    assert all(item_id in result.stdout for item_id in expected)
    assert "recently:" in result.stdout

    result = invoke("recommend", "--data", data, "--user", "stranger")
    assert result.exit_code == 0, result.output
    assert "no history" in result.stdout

    result = invoke("similar", "--data", data, "--item", "i1", "--n", "3")
    assert result.exit_code == 0, result.output
    assert "similar to i1" in result.stdout
    result = invoke("similar", "--data", data, "--item", "nope")
    assert result.exit_code == 2
    assert "unknown item_id 'nope'" in result.stderr

    result = invoke("train", "--data", data)
    assert result.exit_code == 0, result.output
    assert "v2000" in result.stdout


def test_import_keeps_good_rows_and_reports_the_bad_one(tmp_path: Path, hand_csv: Path) -> None:
    data = tmp_path / "data"
    result = invoke("import", "--data", data, "--events", hand_csv)
    assert result.exit_code == 0, result.output
    assert "line 4" in result.stderr
    assert "bad rows" in result.stdout and "accepted" in result.stdout
    with Engine.open(data) as engine:
        assert engine.stats()["events"] == 6
        assert engine.history("u2") == ["b", "c"]
        # Without an item file the events file is the catalogue: its items are listed.
        assert engine.stats()["unlisted_items"] == 0
        assert engine.recommend("stranger", n=10)


def test_import_with_an_item_file_lists_only_its_items(
    tmp_path: Path, hand_csv: Path, shop: ShopFiles
) -> None:
    data = tmp_path / "data"
    result = invoke("import", "--data", data, "--events", hand_csv, "--items", shop.items)
    assert result.exit_code == 0, result.output
    with Engine.open(data) as engine:
        stats = engine.stats()
        unlisted = {item_id for item_id, _ in engine.unlisted_items()}
        answer = {r.item_id for r in engine.recommend("stranger", n=50)}
    assert stats["catalogue_items"] == 40 and stats["unlisted_items"] == len(unlisted) > 0
    assert not answer & unlisted  # events on ids outside the item file list nothing


def test_import_strict_rejects_the_whole_file_and_stores_nothing(
    tmp_path: Path, hand_csv: Path, shop: ShopFiles
) -> None:
    data = tmp_path / "data"
    result = invoke(
        "import", "--data", data, "--events", hand_csv, "--items", shop.items, "--strict"
    )
    assert result.exit_code == 2
    assert "hand.csv" in result.stderr and "line 4" in result.stderr
    assert "Traceback" not in result.output
    if data.exists():
        with Engine.open(data) as engine:
            stats = engine.stats()
        assert stats["events"] == 0 and stats["catalogue_items"] == 0


def test_import_strict_rejects_a_bad_users_file(tmp_path: Path, shop: ShopFiles) -> None:
    users = tmp_path / "users.jsonl"
    users.write_text('{"user_id": "u1", "text": "likes jazz"}\n{"user_id": ""}\n')
    data = tmp_path / "data"
    result = invoke("import", "--data", data, "--events", shop.events, "--users", users, "--strict")
    assert result.exit_code == 2
    assert "users.jsonl" in result.stderr and "line 2" in result.stderr
    assert not (data / "freshrec.db").exists()


# -- simulate, evaluate, demo -----------------------------------------------------------------


def test_simulate_writes_the_shop(tmp_path: Path) -> None:
    out = tmp_path / "shop"
    args = ("--users", "10", "--items", "25", "--events", "300", "--seed", "2")
    result = invoke("simulate", "--out", out, *args)
    assert result.exit_code == 0, result.output
    assert len((out / "items.jsonl").read_text().splitlines()) == 25
    assert len((out / "users.jsonl").read_text().splitlines()) == 10
    lines = (out / "events.csv").read_text().splitlines()
    assert lines[0] == "user_id,item_id,type,timestamp,value" and len(lines) == 301

    result = invoke("simulate", "--out", tmp_path / "j", *args, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "j" / "events.jsonl").read_text().splitlines()) == 300


def test_simulate_refuses_impossible_sizes(tmp_path: Path) -> None:
    result = invoke("simulate", "--out", tmp_path / "s", "--items", "5")
    assert result.exit_code == 2
    assert "n_items" in result.stderr


def test_evaluate_json(shop: ShopFiles) -> None:
    result = invoke("evaluate", "--events", shop.events, "--items", shop.items, "--json")
    assert result.exit_code == 0, result.output
    summary = last_json(result)
    assert summary["events"] == 2_000
    assert summary["train_events"] == 1_600 and summary["test_events"] == 400
    assert summary["users_evaluated"] > 0
    for key in ("recall@10", "ndcg@10", "hr@10", "coverage@10"):
        assert 0.0 <= summary[key] <= 1.0
    assert summary["hr@10"] >= summary["recall@10"]


def test_demo_with_tiny_sizes(tmp_path: Path) -> None:
    result = invoke("demo", "--users", "30", "--items", "40", "--events", "2000", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "true taste now" in result.stdout
    assert "live: " in result.stdout and "after click 3" in result.stdout
    assert "similar to" in result.stdout

    data = tmp_path / "demo"
    args = ("--users", "20", "--items", "20", "--events", "500", "--data", data)
    result = invoke("demo", *args)
    assert result.exit_code == 0, result.output
    with Engine.open(data) as engine:
        # The shop's events plus the live clicks (20 categories of one item: a single click).
        assert engine.stats()["events"] == 500 + result.stdout.count("after click") == 501


# -- temporal split (the function behind `freshrec evaluate`) ---------------------------------


def test_temporal_split_oracle() -> None:
    log = [
        # Train: four users walk a -> b -> c; u5 has seen a and b.
        *(Event(u, i, "click", t0 + n) for t0, u in enumerate("wxyz") for n, i in enumerate("abc")),
        Event("u5", "a", "click", 10),
        Event("u5", "b", "click", 11),
        Event("u6", "a", "click", 12),
        # Test (the last 4 events): u5 clicks c (new: relevant); u6 clicks a (seen: not
        # relevant) and views b (not positive); a newcomer clicks c (no train history).
        Event("u5", "c", "click", 20),
        Event("u6", "a", "click", 21),
        Event("u6", "b", "view", 22),
        Event("new", "c", "click", 23),
    ]
    result = temporal_split_evaluate(log, k=2, test_fraction=0.22)
    assert result["train_events"] == 15 and result["test_events"] == 4
    assert result["users_evaluated"] == 1
    assert result["hr@2"] == 1.0 and result["recall@2"] == 1.0 and result["ndcg@2"] == 1.0
    assert 0.0 < result["coverage@2"] <= 1.0


def test_temporal_split_sorts_by_time_and_validates() -> None:
    log = [Event("u1", "b", "click", 2), Event("u1", "a", "click", 1)]
    assert temporal_split_evaluate(log, test_fraction=0.5)["users_evaluated"] == 1
    with pytest.raises(ValueError, match="test_fraction"):
        temporal_split_evaluate(log, test_fraction=0.0)
    with pytest.raises(ValueError, match="k"):
        temporal_split_evaluate(log, k=0)


# -- real data --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not (ML100K / "u.data").is_file(), reason="MovieLens-100K not present")
def test_replay_movielens_100k_directory() -> None:
    result = invoke("replay", "--events", ML100K, "--json")
    assert result.exit_code == 0, result.output
    report = last_json(result)
    assert report["events"] == 100_000
    assert report["evaluated"] == 54_802
    # The headline (docs/benchmarks.md): 0.2264 with the defaults; ± 0.003 is ~160 hits.
    assert abs(report["hr@10"] - 0.2264) <= 0.003, report


def test_reimporting_a_file_without_event_ids_counts_duplicates(
    tmp_path: Path, hand_csv: Path
) -> None:
    data = tmp_path / "data"
    first = invoke("import", "--data", data, "--events", hand_csv, "--no-train")
    assert first.exit_code == 0, first.output
    with Engine.open(data) as engine:
        stored = engine.stats()["events"]
    assert stored > 0
    second = invoke("import", "--data", data, "--events", hand_csv, "--no-train")
    assert second.exit_code == 0, second.output
    with Engine.open(data) as engine:
        assert engine.stats()["events"] == stored


def test_replay_compares_configurations_side_by_side(events_csv: Path, tmp_path: Path) -> None:
    trending = tmp_path / "trending.json"
    trending.write_text(json.dumps({"blend": {"covisitation": 0, "factors": 0, "trending": 1}}))
    full = tmp_path / "full.json"
    full.write_text("{}")
    result = invoke(
        "replay", "--events", events_csv, "--settings", full, "--settings", trending, "--json"
    )
    assert result.exit_code == 0, result.output
    rows = last_json(result)["configurations"]
    assert [row["name"] for row in rows] == ["full", "trending"]
    for row in rows:
        assert {"hr@10", "ndcg@10", "coverage@10", "novelty@10", "events_per_second"} <= set(row)
        assert 0 < row["coverage@10"] <= 1 and row["novelty@10"] > 0
    alone = last_json(invoke("replay", "--events", events_csv, "--settings", trending, "--json"))
    assert alone["hr@10"] == rows[1]["hr@10"]  # one --settings: the plain report
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"blend": {"colour": 1}}))
    refused = invoke("replay", "--events", events_csv, "--settings", bad, "--settings", full)
    assert refused.exit_code == 2 and "blend.colour" in refused.output


def test_experiment_simulate_prints_the_report_last(tmp_path: Path) -> None:
    spec = tmp_path / "ab.json"
    spec.write_text(
        json.dumps(
            {
                "variants": [
                    {
                        "name": "trending",
                        "settings": {"blend": {"covisitation": 0, "factors": 0, "trending": 1}},
                    },
                    {"name": "full", "settings": {}},
                ]
            }
        )
    )
    args = (
        "--variants",
        spec,
        "--requests",
        "600",
        "--users",
        "200",
        "--items",
        "80",
        "--history",
        "3000",
    )
    result = invoke("experiment", "simulate", *args, "--seed", "3", "--look-every", "200", "--json")
    assert result.exit_code == 0, result.output
    report = last_json(result)
    assert [v["name"] for v in report["variants"]] == ["trending", "full"]
    assert sum(v["lists"] for v in report["variants"]) == 600
    assert [look["requests"] for look in report["looks"]] == [200, 400, 600]
    assert report["comparisons"][0]["decision"] in {"better", "worse", "undecided"}
    aa = last_json(invoke("experiment", "simulate", *args, "--aa", "--json"))
    assert aa["srm"]["mismatch"] is False
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    refused = invoke("experiment", "simulate", "--variants", broken)
    assert refused.exit_code == 2 and "not JSON" in refused.output


def test_experiment_estimate_reads_the_randomised_lists_of_a_data_directory(tmp_path: Path) -> None:
    from freshrec.config import EngineConfig

    exploring = EngineConfig.from_dict(
        {"content": {"encoder": "none"}, "measurement": {"exploration_share": 1.0}}
    )
    data = tmp_path / "data"
    with Engine.open(data, exploring, background_training=False) as engine:
        engine.upsert_items([{"item_id": f"i{k}"} for k in range(30)])
        engine.ingest(
            [
                {
                    "user_id": f"u{k % 6}",
                    "item_id": f"i{(k * 7) % 30}",
                    "type": "click",
                    "timestamp": 1_700_000_000 + k,
                }
                for k in range(200)
            ]
        )
        for k in range(40):
            answer = engine.serve(f"u{k % 6}", n=5)
            engine.ingest(
                [
                    {
                        "user_id": f"u{k % 6}",
                        "item_id": answer.items[0].item_id,
                        "type": "click",
                        "timestamp": 1_700_001_000 + k,
                        "recommendation_id": answer.recommendation_id,
                    }
                ]
            )
    target = tmp_path / "target.json"
    target.write_text(json.dumps({"blend": {"trending": 0.5}}))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"content": {"encoder": "none"}}))
    result = invoke(
        "experiment", "estimate", "--data", data, "--settings", target, "--config", config, "--json"
    )
    assert result.exit_code == 0, result.output
    estimate = last_json(result)
    assert estimate["lists"] == 40 and estimate["positions"] == 200
    assert 0 <= estimate["snips"]["low"] <= estimate["snips"]["value"] <= estimate["snips"]["high"]
