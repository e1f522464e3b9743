"""Forgetting a user: no trace in the log, the online state, the measurement or the next model.

The check is a twin: engine A sees everyone's events and then forgets the victim; engine B
only ever saw the others' events. Whatever A answers after forgetting (before and after a
retrain, and after a restart) must be what B answers.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import catalogue, generate_events, small_config
from freshrec import Engine
from freshrec.engine import DB_FILE, MEASUREMENT_FILE
from freshrec.errors import UnknownItemError

VICTIM = "u3"
# small_config's factors, warm-starting retrains (the default) so a leak through them shows.
FACTORS = {"factors": 8, "iterations": 6, "regularization": 1.0, "seed": 3}


def _answers(engine: Engine, users: list[str]) -> dict[str, list[tuple[str, float]]]:
    return {
        user: [(r.item_id, round(r.score, 9)) for r in engine.recommend(user, n=10)]
        for user in users
    }


def _open(path: Path) -> Engine:
    config = small_config(factors={**FACTORS, "warm_start_iterations": 2})
    return Engine.open(path, config, background_training=False)


def _fitted_from_scratch(path: Path) -> Engine:
    """B reopened and trained from scratch: the model of a log that never held the victim."""
    config = small_config(factors={**FACTORS, "warm_start_iterations": 0})
    engine = Engine.open(path, config, background_training=False)
    engine.train()
    return engine


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return generate_events(n_users=12, n_items=30, n_events=600, seed=4)


def _twins(tmp_path: Path, events: list[dict[str, Any]]) -> tuple[Engine, Engine]:
    full, without = _open(tmp_path / "a"), _open(tmp_path / "b")
    for engine in (full, without):
        engine.upsert_items(catalogue(30))
        engine.upsert_users([{"user_id": "u1", "properties": {"plan": "gold"}}])
    full.upsert_users([{"user_id": VICTIM, "properties": {"email": "v@example.org"}}])
    full.ingest(events)
    without.ingest([e for e in events if e["user_id"] != VICTIM])
    for engine in (full, without):
        engine.train()
    return full, without


def test_forgetting_leaves_the_answers_of_an_engine_that_never_saw_the_user(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    full, without = _twins(tmp_path, events)
    victim_events = sum(e["user_id"] == VICTIM for e in events)
    # B's state was built live and A's will be rebuilt from the log: compare like with like.
    without.close()
    without = _open(tmp_path / "b")
    served = full.serve(VICTIM, n=5)
    full.measurement.log.flush()
    others = sorted({e["user_id"] for e in events} - {VICTIM})
    before = full.applied_offset

    receipt = full.forget_user(VICTIM)

    assert receipt.to_dict() == {
        "user_id": VICTIM, "profile": True, "events": victim_events, "lists": 1,
    }  # fmt: skip
    assert full.applied_offset == before  # holes keep their offsets
    assert full.get_user(VICTIM) is None
    assert full.user_event_count(VICTIM) == 0
    assert full.user_events(VICTIM) == []
    assert full.history(VICTIM) == []
    assert full.stats()["users"] == without.stats()["users"]
    assert [r.item_id for r in full.recommend(VICTIM, n=10)] == [
        r.item_id for r in full.recommend("never-seen", n=10)
    ]
    # The saved model still holds item weights that learnt from the victim; the online
    # parts do not. The next model fits from scratch (a warm start would carry the
    # victim): it is the model B fits from scratch on a log that never held them.
    full.train()
    without.close()
    without = _fitted_from_scratch(tmp_path / "b")
    assert _answers(full, others) == _answers(without, others)
    assert full.stats()["events"] == without.stats()["events"]

    # After a restart the holes are passed over and the offsets still do not move.
    full.close()
    full = _open(tmp_path / "a")
    assert full.applied_offset == before
    # Offsets found through the state, past the holes, are the log's own.
    logged = full.user_events("u1", limit=1_000)
    assert [e.user_id for _, e in logged] == ["u1"] * sum(e["user_id"] == "u1" for e in events)
    assert [e.timestamp for _, e in logged] == sorted(
        (float(e["timestamp"]) for e in events if e["user_id"] == "u1"), reverse=True
    )
    assert _answers(full, others) == _answers(without, others)
    result = full.ingest([{"user_id": "u1", "item_id": "i2", "type": "click"}])
    assert result.offset == before + 1
    full.close()
    without.close()

    # Nothing in the files names the victim or holds their event ids.
    with sqlite3.connect(tmp_path / "a" / DB_FILE) as db:
        for table in ("events", "users"):
            rows = db.execute(f"SELECT COUNT(*) FROM {table} WHERE user_id = ?", (VICTIM,))
            assert rows.fetchone()[0] == 0, table
        victim_ids = [e["event_id"] for e in events if e["user_id"] == VICTIM]
        marks = ",".join("?" * len(victim_ids))
        found = db.execute(f"SELECT COUNT(*) FROM events WHERE event_id IN ({marks})", victim_ids)
        assert found.fetchone()[0] == 0
    with sqlite3.connect(tmp_path / "a" / MEASUREMENT_FILE) as db:
        lists = db.execute("SELECT COUNT(*) FROM lists WHERE user_id = ?", (VICTIM,)).fetchone()
        assert lists[0] == 0
        rid = db.execute(
            "SELECT COUNT(*) FROM lists WHERE recommendation_id = ?", (served.recommendation_id,)
        )
        assert rid.fetchone()[0] == 0


def test_a_forgotten_users_events_sent_again_are_new_and_unknown_users_erase_nothing() -> None:
    with Engine.open(None, small_config(), background_training=False) as engine:
        engine.upsert_items(catalogue(5))
        event = {"user_id": "u1", "item_id": "i1", "type": "click", "event_id": "x1"}
        engine.ingest([event])
        assert engine.forget_user("nobody").to_dict() == {
            "user_id": "nobody", "profile": False, "events": 0, "lists": 0,
        }  # fmt: skip
        assert engine.store.get_blob("model/forgets") is None  # nothing erased: no rebuild
        assert engine.forget_user("u1").events == 1
        # What the client sends after the forget is new data, not a duplicate of the past.
        again = engine.ingest([event])
        assert (again.accepted, again.duplicates, again.offset) == (1, 0, 2)
        assert engine.user_event_count("u1") == 1


def test_the_next_fit_is_cold_also_after_a_restart_and_versions_never_repeat(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    full, without = _twins(tmp_path, events)
    others = sorted({e["user_id"] for e in events} - {VICTIM})
    version_before = full.model_version
    full.forget_user(VICTIM)
    full.close()  # the cold start is kept in the store, not only in memory
    full = _open(tmp_path / "a")
    full.train()
    assert full.model_version != version_before  # named by the log offset, never reused
    without.close()
    without = _fitted_from_scratch(tmp_path / "b")
    assert _answers(full, others) == _answers(without, others)
    # That fit cleared the flag: the one after it warm-starts again.
    full.ingest([{"user_id": "u1", "item_id": "i3", "type": "click"}])
    full.close()
    full = _open(tmp_path / "a")
    assert full.store.get_blob("model/cold-next") == b"0"
    full.close()
    without.close()


def test_what_happens_while_the_state_is_rebuilt_goes_to_the_kept_measurement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from freshrec.retraining import Retrainer

    engine = Engine.open(None, small_config(), background_training=False)
    engine.upsert_items(catalogue(10))
    engine.ingest(generate_events(n_users=4, n_items=10, n_events=80, seed=2))
    measurement = engine.measurement
    served_meanwhile: list[str] = []
    start_cold = Retrainer.start_cold

    def serve_while_forgetting(retrainer: Retrainer) -> None:
        # The log is rewritten, the old state still answers: a list for the victim, an
        # experiment, from other threads as far as the engine knows.
        served_meanwhile.append(engine.serve(VICTIM, n=3).recommendation_id)
        engine.measurement.put_experiment(
            "meanwhile",
            {"scenario": "home", "variants": [{"name": "a"}, {"name": "b"}]},
        )
        start_cold(retrainer)

    monkeypatch.setattr(Retrainer, "start_cold", serve_while_forgetting)
    receipt = engine.forget_user(VICTIM)
    assert engine.measurement is measurement
    assert engine.measurement.experiment("meanwhile").status == "running"
    assert receipt.lists == 1
    engine.measurement.log.flush()
    kept = [served.user_id for served, _ in engine.measurement.log.lists()]
    assert VICTIM not in kept
    engine.close()


def test_records_written_after_a_forget_reach_the_rebuilt_state(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    """The catalogue and profiles write into the state the forget built, not the old one."""
    full, without = _twins(tmp_path, events)
    without.close()
    with full:
        full.forget_user(VICTIM)
        full.upsert_items([{"item_id": "brand-new", "categories": ["c0"]}])
        full.ingest([{"user_id": "u7", "item_id": "brand-new", "type": "purchase"}])
        assert full.user_event_count("u7") > 0
        assert full.unlisted_count == 0
        answered = [r.item_id for r in full.recommend("someone-new", n=40)]
        assert "brand-new" in answered
        full.patch_user("u7", {"properties": {"plan": "gold"}})
        assert full.get_user("u7").properties == {"plan": "gold"}


def test_writes_waiting_behind_a_forget_reach_the_rebuilt_state(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    """An upsert or patch that waited for a forget applies to the state the forget built."""
    full, without = _twins(tmp_path, events)
    without.close()
    with full:
        full.ingest([{"user_id": VICTIM, "item_id": "victim-only", "type": "view"}])
        records = full._records
        outcomes: dict[str, Any] = {}

        def run(name: str, call: Any) -> threading.Thread:
            def target() -> None:
                try:
                    outcomes[name] = call()
                except Exception as exc:  # the outcome is what is checked
                    outcomes[name] = exc

            thread = threading.Thread(target=target)
            thread.start()
            return thread

        # The forget takes the catalogue lock, then waits here for the profile lock; the
        # writes started meanwhile wait for the catalogue lock, so they run after it.
        with records.profile_lock:
            forget = run("forget", lambda: full.forget_user(VICTIM))
            time.sleep(0.2)
            upsert = run("upsert", lambda: full.upsert_items([{"item_id": "brand-new"}]))
            patch = run("patch", lambda: full.patch_item("victim-only", {"title": "x"}))
            time.sleep(0.2)
        for thread in (forget, upsert, patch):
            thread.join(30)
        assert outcomes["upsert"] == 1
        # Known only from the forgotten user's events: unknown once they are erased.
        assert isinstance(outcomes["patch"], UnknownItemError)
        assert full.get_item("brand-new").item_id == "brand-new"
        assert full._state.items.get("brand-new") is not None  # in memory, not only stored
        assert full._state.items.get("victim-only") is None
