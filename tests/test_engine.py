"""The Python API end to end, with a fresh engine per test (in memory and on disk)."""

from __future__ import annotations

import doctest
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import freshrec
from conftest import catalogue
from freshrec import Engine, EngineConfig
from freshrec.errors import UnknownItemError, UnknownScenarioError, ValidationError
from freshrec.models import als

T0 = 1_700_000_000
EventFactory = Callable[..., list[dict[str, Any]]]
ConfigFactory = Callable[..., EngineConfig]


def click(user: str, item: str, t: int = 0, kind: str = "click", **extra: Any) -> dict[str, Any]:
    return {"user_id": user, "item_id": item, "type": kind, "timestamp": T0 + t, **extra}


def ids(recs: list[freshrec.Recommendation]) -> list[str]:
    return [r.item_id for r in recs]


@pytest.fixture(params=["memory", "disk"])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, engine_config: EngineConfig
) -> Iterator[Engine]:
    path = None if request.param == "memory" else tmp_path / "data"
    opened = Engine.open(path, engine_config)
    yield opened
    opened.close()


@pytest.fixture
def disk(tmp_path: Path, engine_config: EngineConfig) -> Callable[[], Engine]:
    """Open (or reopen) the engine stored under this test's tmp dir."""
    return lambda: Engine.open(tmp_path / "data", engine_config)


def pairs_world(engine: Engine) -> None:
    """u1 went a -> b, u2 went c -> d: co-visitation links a~b and c~d."""
    engine.list_bare_items(["a", "b", "c", "d"])
    engine.ingest([click("u1", "a", 0), click("u1", "b", 1), click("u2", "c", 2)])
    engine.ingest([click("u2", "d", 3)])


def popularity_world(engine: Engine) -> None:
    """pop: 5 clicks, mid: 3, low: 1 (same time), so trending is pop > mid > low."""
    engine.list_bare_items(["pop", "mid", "low"])
    events = [click(f"fan{k}", "pop", 10) for k in range(5)]
    events += [click(f"fan{k}", "mid", 10) for k in range(3)]
    events += [click("fan0", "low", 10)]
    engine.ingest(events)


# -- read-your-writes -----------------------------------------------------------------------


def test_an_event_changes_that_users_next_answer(engine: Engine) -> None:
    pairs_world(engine)
    engine.ingest([click("x", "a", 10)])
    assert ids(engine.recommend("x")) == ["b"]
    engine.ingest([click("x", "c", 11)])
    # The newest item weighs more, so its neighbour leads; seen items never come back.
    assert ids(engine.recommend("x")) == ["d", "b"]
    engine.ingest([click("x", "d", 12)])
    assert ids(engine.recommend("x")) == ["b"]


def test_answers_carry_scores_and_reasons(engine: Engine) -> None:
    pairs_world(engine)
    engine.ingest([click("x", "a", 10)])
    [rec] = engine.recommend("x")
    assert rec.item_id == "b"
    assert rec.score > 0
    assert any("covisitation" in why for why in rec.why)
    assert any("a" in why.split() for why in rec.why)  # names the history item behind it
    assert engine.recommend("x", explain=False)[0].why == ()


# -- ingest ---------------------------------------------------------------------------------


def test_idempotent_by_event_id(engine: Engine) -> None:
    first = engine.ingest([click("u", "a", 0, event_id="e1"), click("u", "b", 1, event_id="e2")])
    assert (first.accepted, first.duplicates, first.errors) == (2, 0, [])
    again = engine.ingest(
        [
            click("u", "a", 0, event_id="e1"),
            click("u", "c", 2, event_id="e3"),
            click("u", "c", 2, event_id="e3"),
        ]
    )
    assert (again.accepted, again.duplicates) == (1, 2)
    assert engine.stats()["events"] == 3
    assert engine.history("u") == ["a", "b", "c"]


def test_idempotent_by_event_id_after_close_and_reopen(disk: Callable[[], Engine]) -> None:
    with disk() as first:
        first.ingest([click("u", "a", 0, event_id="e1"), click("u", "b", 1)])
    with disk() as again:
        assert again.stats()["events"] == 2
        result = again.ingest([click("u", "a", 0, event_id="e1"), click("u", "b", 1)])
        # No event_id: never a duplicate, even with identical content.
        assert (result.accepted, result.duplicates) == (1, 1)
    with disk() as third:
        assert third.stats()["events"] == 3


def test_bad_events_are_reported_per_index_and_the_rest_kept(engine: Engine) -> None:
    batch = [
        click("u", "a", 0),
        click("u", "b", 1, kind="teleport"),
        click("u", "c", 2),
        {"item_id": "d", "type": "click"},
        click("u", "e", 3, colour="red"),
        click("u", "f", 4, kind="rating"),
        "not an object",
    ]
    result = engine.ingest(batch)  # type: ignore[arg-type]
    assert result.accepted == 2
    assert result.duplicates == 0
    assert [index for index, _ in result.errors] == [1, 3, 4, 5, 6]
    messages = dict(result.errors)
    assert "type" in messages[1]
    assert "user_id" in messages[3]
    assert "colour" in messages[4]
    assert "value" in messages[5]
    assert engine.history("u") == ["a", "c"]
    assert engine.stats()["events"] == 2


def test_atomic_ingest_raises_and_stores_nothing(engine: Engine) -> None:
    engine.ingest([click("u", "a", 0)])
    with pytest.raises(ValidationError) as caught:
        engine.ingest(
            [click("u", "b", 1, event_id="ok"), click("u", "c", 2, kind="warp")], atomic=True
        )
    assert caught.value.field == "type"
    assert "1" in str(caught.value)  # the index of the bad event
    assert engine.stats()["events"] == 1
    assert engine.store.count_events() == 1
    assert engine.history("u") == ["a"]
    # Its event_id was not consumed either.
    assert engine.ingest([click("u", "b", 1, event_id="ok")]).accepted == 1


def test_an_empty_batch_is_fine(engine: Engine) -> None:
    result = engine.ingest([])
    assert (result.accepted, result.duplicates, result.errors) == (0, 0, [])


# -- filters --------------------------------------------------------------------------------


def test_a_dislike_excludes_the_item_and_is_no_interest(engine: Engine) -> None:
    pairs_world(engine)
    popularity_world(engine)
    cold = ids(engine.recommend("nobody", n=20))
    engine.ingest([click("x", "pop", 20, kind="dislike")])
    answer = ids(engine.recommend("x", n=20))
    # Only a rejection: the user is still cold, minus what they rejected.
    assert answer == [i for i in cold if i != "pop"]
    engine.ingest([click("x", "a", 21)])
    assert "pop" not in ids(engine.recommend("x", n=20))
    assert ids(engine.recommend("x")) == ["b"]


def test_unavailable_items_are_never_returned(engine: Engine) -> None:
    pairs_world(engine)
    popularity_world(engine)
    engine.ingest([click("x", "a", 20)])
    engine.upsert_items([{"item_id": "b", "available": False}, {"item_id": "pop"}])
    engine.upsert_items([{"item_id": "pop", "available": False}])
    assert "b" not in ids(engine.recommend("x", n=20))
    assert "pop" not in ids(engine.recommend("x", n=20))
    assert "pop" not in ids(engine.recommend("nobody", n=20))
    assert "b" not in ids(engine.similar("a"))
    engine.upsert_items([{"item_id": "b", "available": True}])
    assert ids(engine.recommend("x")) == ["b"]
    assert ids(engine.similar("a")) == ["b"]


def test_exclude_filter(engine: Engine) -> None:
    pairs_world(engine)
    engine.ingest([click("x", "a", 10), click("x", "c", 11)])
    assert ids(engine.recommend("x")) == ["d", "b"]
    assert ids(engine.recommend("x", exclude=["d"])) == ["b"]
    assert ids(engine.recommend("x", exclude=["d", "b", "never-seen"])) == []
    assert ids(engine.similar("d")) == ["c"]
    assert ids(engine.similar("d", exclude=["c"])) == []


def test_category_filter_for_known_and_cold_users(engine: Engine) -> None:
    engine.upsert_items(
        [
            {"item_id": "pop", "categories": ["music"]},
            {"item_id": "mid", "categories": ["books"]},
            {"item_id": "low", "categories": ["books", "music"]},
            {"item_id": "b", "categories": ["books"]},
        ]
    )
    popularity_world(engine)
    pairs_world(engine)
    # Equal counts: the more recent event wins (low at t=10, then d, c, b, a at t=3..0).
    assert ids(engine.recommend("nobody", n=10)) == ["pop", "mid", "low", "d", "c", "b", "a"]
    assert ids(engine.recommend("nobody", n=10, category="books")) == ["mid", "low", "b"]
    assert ids(engine.recommend("nobody", n=10, category="music")) == ["pop", "low"]
    assert ids(engine.recommend("nobody", category="none-such")) == []
    engine.ingest([click("x", "a", 30), click("x", "c", 31)])
    assert ids(engine.recommend("x", category="books")) == ["b"]


def test_cold_user_gets_trending(engine: Engine) -> None:
    popularity_world(engine)
    answer = engine.recommend("nobody", n=10)
    assert ids(answer) == ["pop", "mid", "low"]
    assert answer[0].score > answer[1].score > answer[2].score
    assert all(any("trending" in w for w in r.why) for r in answer)
    assert ids(engine.recommend("nobody", n=2)) == ["pop", "mid"]
    # A user whose history gives no personal signal falls back to trending minus their items.
    engine.ingest([click("lonely", "pop", 20)])
    assert ids(engine.recommend("lonely")) == ["mid", "low"]


def test_empty_engine_answers_nothing(engine: Engine) -> None:
    assert engine.recommend("anyone") == []
    assert engine.rank("anyone", ["a", "b"]) == [
        freshrec.Recommendation("a", 0.0),
        freshrec.Recommendation("b", 0.0),
    ]


# -- similar, rank --------------------------------------------------------------------------


def test_similar(engine: Engine) -> None:
    pairs_world(engine)
    assert ids(engine.similar("a")) == ["b"]
    assert ids(engine.similar("d")) == ["c"]
    with pytest.raises(UnknownItemError) as caught:
        engine.similar("nope")
    assert caught.value.item_id == "nope"
    assert isinstance(caught.value, freshrec.FreshrecError)


def test_similar_for_a_catalogue_item_without_events_is_empty(engine: Engine) -> None:
    engine.upsert_items([{"item_id": "fresh"}])
    assert engine.similar("fresh") == []


def test_rank_returns_every_candidate_best_first(engine: Engine) -> None:
    pairs_world(engine)
    popularity_world(engine)
    engine.ingest([click("x", "a", 20), click("x", "c", 21)])
    ranked = engine.rank("x", ["b", "unknown-1", "a", "d", "unknown-2", "pop", "b"])
    assert [r.item_id for r in ranked][:2] == ["d", "b"]
    assert sorted(r.item_id for r in ranked) == sorted(
        ["b", "unknown-1", "a", "d", "unknown-2", "pop"]
    )
    scores = [r.score for r in ranked]
    assert scores == sorted(scores, reverse=True)
    # Zero scores (unknown ids, unrelated items) come last in the order they were given.
    assert [r.item_id for r in ranked if r.score == 0] == ["unknown-1", "unknown-2", "pop"]
    assert [r.item_id for r in ranked][-3:] == ["unknown-1", "unknown-2", "pop"]
    assert engine.rank("x", []) == []
    # A cold user is ranked by trending.
    assert [r.item_id for r in engine.rank("nobody", ["low", "pop", "mid"])] == [
        "pop",
        "mid",
        "low",
    ]


# -- argument errors ------------------------------------------------------------------------


def test_unknown_scenario(engine: Engine) -> None:
    with pytest.raises(UnknownScenarioError) as caught:
        engine.recommend("u", scenario="homepage")
    assert caught.value.scenario == "homepage"
    assert "home" in caught.value.known


@pytest.mark.parametrize("n", [0, -1, 1001, True, 2.5, "10", None])
def test_n_out_of_range(engine: Engine, n: Any) -> None:
    pairs_world(engine)
    with pytest.raises(ValidationError) as caught:
        engine.recommend("u1", n=n)
    assert caught.value.field == "n"
    with pytest.raises(ValidationError):
        engine.similar("a", n=n)


@pytest.mark.parametrize("n", [1, 1000])
def test_n_at_the_limits(engine: Engine, n: int) -> None:
    popularity_world(engine)
    assert len(engine.recommend("nobody", n=n)) == min(n, 3)


def test_recommend_ids_is_recommend_without_scores(
    engine: Engine, make_events: EventFactory
) -> None:
    """The replay's fast question: same scoring and filtering, ids only."""
    engine.upsert_items([{"item_id": "i3", "available": False}])
    engine.ingest(make_events(n_events=400))
    engine.train()
    engine.ingest(make_events(n_events=60, seed=9, id_prefix="late"))
    for user in [f"u{k}" for k in range(20)] + ["nobody"]:
        for n, exclude, category in [(10, None, None), (3, ["i1", "i2"], None), (50, None, "c")]:
            full = engine.recommend(user, n=n, exclude=exclude, category=category)
            ids = engine.recommend_ids(user, n=n, exclude=exclude, category=category)
            assert ids == [r.item_id for r in full]
    with pytest.raises(ValidationError):
        engine.recommend_ids("u1", n=0)
    with pytest.raises(UnknownScenarioError):
        engine.recommend_ids("u1", scenario="homepage")


@pytest.mark.parametrize("bad", ["", "a\nb", 5, "x" * 257])
def test_bad_ids_in_queries(engine: Engine, bad: Any) -> None:
    with pytest.raises(ValidationError):
        engine.recommend(bad)
    with pytest.raises(ValidationError):
        engine.similar(bad)
    with pytest.raises(ValidationError):
        engine.rank("u", [bad])


def test_bad_items_and_users_reject_the_whole_batch(engine: Engine) -> None:
    with pytest.raises(ValidationError) as caught:
        engine.upsert_items([{"item_id": "ok"}, {"item_id": "bad", "available": "no"}])
    assert caught.value.field == "available"
    assert "items[1]" in str(caught.value)
    assert engine.stats()["catalogue_items"] == 0
    with pytest.raises(ValidationError) as caught:
        engine.upsert_users([{"user_id": "ok"}, {"user_id": ""}])
    assert caught.value.field == "user_id"
    assert engine.stats()["user_profiles"] == 0


# -- catalogue, stats -----------------------------------------------------------------------


def test_items_and_users_round_trip(engine: Engine) -> None:
    engine.upsert_items(
        [{"item_id": "i1", "title": "T", "categories": ["c"], "created_at": "2024-11-22T10:00:00Z"}]
    )
    engine.upsert_users([{"user_id": "u1", "text": "likes jazz", "properties": {"age": 30}}])
    item = engine.get_item("i1")
    assert (item.title, item.categories, item.created_at) == ("T", ("c",), 1_732_269_600.0)
    user = engine.get_user("u1")
    assert user is not None
    assert (user.text, dict(user.properties)) == ("likes jazz", {"age": 30})
    assert engine.get_user("nobody") is None
    with pytest.raises(UnknownItemError):
        engine.get_item("nope")


def test_stats_counts(engine: Engine) -> None:
    stats = engine.stats()
    assert (stats["events"], stats["users"], stats["items"]) == (0, 0, 0)
    engine.upsert_items([{"item_id": "a"}, {"item_id": "z"}])
    engine.upsert_users([{"user_id": "u1"}, {"user_id": "ghost"}])
    pairs_world(engine)
    engine.ingest([click("u1", "a", 9, event_id="dup"), click("u1", "a", 9, event_id="dup")])
    engine.ingest([click("u2", "offsite", 10)])  # an item no upsert created
    stats = engine.stats()
    assert stats["events"] == 6
    assert stats["users"] == 2  # users with events; stored profiles are "user_profiles"
    assert stats["items"] == 6  # a, z, b, c, d, offsite
    assert stats["catalogue_items"] == 5  # pairs_world listed b, c, d
    assert stats["unlisted_items"] == 1
    assert stats["user_profiles"] == 2
    assert isinstance(stats["model_version"], str)


# -- training -------------------------------------------------------------------------------


def test_train_swaps_the_model_version(engine: Engine, make_events: EventFactory) -> None:
    engine.upsert_items(catalogue())
    engine.ingest(make_events(n_events=200))
    before = engine.stats()["model_version"]
    version = engine.train()
    stats = engine.stats()
    assert version != before
    assert stats["model_version"] == version
    assert stats["trained_through_events"] == 200
    assert any("factors" in w for r in engine.recommend("u1") for w in r.why)


def test_recommend_keeps_answering_while_train_runs(
    engine: Engine, make_events: EventFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ALS fit is held open until the reader thread has answered three times during it:
    if ``train`` blocked answers, the fit would time out and the test fail."""
    engine.upsert_items(catalogue())
    engine.ingest(make_events(n_events=200))
    fitting = threading.Event()
    answered_during_fit = threading.Event()
    stop = threading.Event()
    answers: list[list[str]] = []
    errors: list[BaseException] = []
    original = als.train

    def slow_train_als(*args: Any, **kwargs: Any) -> Any:
        fitting.set()
        assert answered_during_fit.wait(timeout=30), "recommend was blocked by train"
        return original(*args, **kwargs)

    monkeypatch.setattr(als, "train", slow_train_als)

    def reader() -> None:
        during = 0
        try:
            while not stop.is_set():
                answers.append(ids(engine.recommend("u3", n=5)))
                if fitting.is_set():
                    during += 1
                    if during >= 3:
                        answered_during_fit.set()
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)
            answered_during_fit.set()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        version = engine.train()
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors
    assert engine.stats()["model_version"] == version
    assert answers and all(0 < len(a) <= 5 for a in answers)
    assert all(len(set(a)) == len(a) for a in answers)


def test_events_that_arrive_during_train_are_not_lost(
    engine: Engine, make_events: EventFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events ingested while the fit runs are in the log and in the new model's user state."""
    engine.upsert_items(catalogue())
    engine.ingest(make_events(n_events=200))
    original = als.train

    def ingest_then_train(*args: Any, **kwargs: Any) -> Any:
        worker = threading.Thread(
            target=engine.ingest, args=([click("late", "i0", 500), click("late", "i2", 501)],)
        )
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "ingest was blocked by train"
        return original(*args, **kwargs)

    monkeypatch.setattr(als, "train", ingest_then_train)
    version = engine.train()
    stats = engine.stats()
    assert stats["events"] == 202
    assert stats["trained_through_events"] == 200
    assert stats["model_version"] == version
    recs = engine.recommend("late", n=5)
    assert recs and not {"i0", "i2"} & set(ids(recs))
    assert any("factors" in w for r in recs for w in r.why), "late user not folded in"


def test_concurrent_ingest_counts_each_event_id_once(engine: Engine) -> None:
    def send(worker: int) -> None:
        for k in range(30):  # every worker sends every id: 4 copies of each
            engine.ingest([click(f"u{worker}", f"i{k % 7}", k, event_id=f"e{k}")])

    threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert engine.stats()["events"] == 30
    assert engine.store.count_events() == 30


def test_background_retrain_after_enough_events(
    tmp_path: Path, make_config: ConfigFactory, make_events: EventFactory
) -> None:
    config = make_config(training={"retrain_every_events": 100, "min_events": 100})
    with Engine.open(None, config, background_training=True) as engine:
        engine.ingest(make_events(n_events=99))
        engine.wait_for_training(timeout=30)
        assert engine.stats()["model_version"] == "online-only"
        engine.ingest(make_events(n_events=20, id_prefix="more"))
        engine.wait_for_training(timeout=30)
        assert engine.stats()["model_version"] != "online-only"
        assert engine.stats()["trained_through_events"] >= 100


# -- save / load ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "blend",
    [
        pytest.param({}, id="default-blend"),
        pytest.param({"ease": 0.5, "trending": 0.1}, id="with-ease-and-trending"),
    ],
)
def test_reopen_after_train_and_more_events_gives_the_same_answers(
    tmp_path: Path, make_config: ConfigFactory, make_events: EventFactory, blend: dict[str, float]
) -> None:
    config = make_config(blend=blend)
    events = make_events(n_users=15, n_items=25, n_events=400, seed=2)
    later = make_events(n_users=18, n_items=30, n_events=80, seed=3, id_prefix="late")
    for k, event in enumerate(later):
        event["timestamp"] += 400 + k
    users = [f"u{k}" for k in range(18)] + ["nobody"]
    with Engine.open(tmp_path / "d", config) as first:
        first.upsert_items([{"item_id": "i3", "available": False}])
        first.ingest(events)
        version = first.train()
        first.ingest(later)  # new users and new items (i25..i29) after the fit
        before = {u: first.recommend(u, n=8) for u in users}
        similar_before = {i: first.similar(f"i{i}", n=5) for i in range(0, 30, 3)}
    with Engine.open(tmp_path / "d", config) as again:
        assert again.stats()["model_version"] == version
        assert again.stats()["events"] == 480
        for user in users:
            after = again.recommend(user, n=8)
            assert ids(after) == ids(before[user]), user
            assert [r.score for r in after] == pytest.approx(
                [r.score for r in before[user]], rel=1e-6, abs=1e-9
            )
        for i, recs in similar_before.items():
            assert ids(again.similar(f"i{i}", n=5)) == ids(recs)
        assert "i3" not in {r.item_id for recs in before.values() for r in recs}


def test_reopen_gives_the_same_answers_when_reads_interleave_with_writes(
    tmp_path: Path, make_config: ConfigFactory, make_events: EventFactory
) -> None:
    """Live traffic reads after every event; a restart replays the log without those reads.
    New items (i25..i29, unseen by the fit) get vectors from their users' fold-ins."""
    config = make_config()
    events = make_events(n_users=15, n_items=25, n_events=400, seed=2)
    later = make_events(n_users=18, n_items=30, n_events=80, seed=3, id_prefix="late")
    for k, event in enumerate(later):
        event["timestamp"] += 400 + k
    users = [f"u{k}" for k in range(18)]
    with Engine.open(tmp_path / "d", config) as first:
        first.ingest(events)
        first.train()
        for event in later:
            first.ingest([event])
            first.recommend(event["user_id"], n=8)
        before = {u: first.recommend(u, n=8) for u in users}
    with Engine.open(tmp_path / "d", config) as again:
        for user in users:
            after = again.recommend(user, n=8)
            assert ids(after) == ids(before[user]), user
            assert [r.score for r in after] == pytest.approx(
                [r.score for r in before[user]], rel=1e-6, abs=1e-9
            )


def test_reopen_without_training_rebuilds_the_same_state(
    tmp_path: Path, engine_config: EngineConfig, make_events: EventFactory
) -> None:
    events = make_events(n_events=300, seed=5)
    with Engine.open(tmp_path / "d", engine_config) as first:
        first.ingest(events[:150])
        first.ingest(events[150:])
        before = {f"u{k}": ids(first.recommend(f"u{k}")) for k in range(20)}
        stats = first.stats()
    with Engine.open(tmp_path / "d", engine_config) as again:
        assert {f"u{k}": ids(again.recommend(f"u{k}")) for k in range(20)} == before
        assert again.stats() == stats
    with Engine.open(None, engine_config) as memory:
        memory.ingest(events)
        assert {f"u{k}": ids(memory.recommend(f"u{k}")) for k in range(20)} == before


def test_concurrent_ingest_applies_in_log_order(
    tmp_path: Path, engine_config: EngineConfig, make_events: EventFactory
) -> None:
    """Appends overlap applies across threads; the state must still follow the log's order,
    so a restart (which replays the log) rebuilds exactly the state that served."""
    events = make_events(n_users=30, n_items=40, n_events=1200, seed=9)
    batches = [events[k : k + 25] for k in range(0, len(events), 25)]
    with Engine.open(tmp_path / "d", engine_config) as first:
        threads = [
            threading.Thread(target=lambda part=batches[k::4]: [first.ingest(b) for b in part])
            for k in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        before = {f"u{k}": ids(first.recommend(f"u{k}")) for k in range(30)}
        stats = first.stats()
    assert stats["events"] == len(events)
    with Engine.open(tmp_path / "d", engine_config) as again:
        assert {f"u{k}": ids(again.recommend(f"u{k}")) for k in range(30)} == before
        assert again.stats() == stats


def test_close_is_idempotent(engine: Engine) -> None:
    engine.close()
    engine.close()


# -- documentation examples -----------------------------------------------------------------

# The Python API example of DESIGN.md, made runnable: concrete ``properties`` instead of ``...``,
# a tmp data dir, and a second user so that ``recs`` is not empty.
DESIGN_EXAMPLE = """
>>> import freshrec
>>> engine = freshrec.Engine.open(data_dir)   # embedded store; Engine.open(None) = in memory
>>> engine.upsert_items([{"item_id": "i1", "title": "...", "text": "...", "categories": ["a"],
...                       "properties": {"price": 3}, "created_at": "2026-11-22T10:00:00Z"},
...                      {"item_id": "i2"}])
2
>>> engine.upsert_users([{"user_id": "u1", "properties": {"plan": "free"}, "text": "likes jazz"}])
1
>>> result = engine.ingest([{"user_id": "u1", "item_id": "i1", "type": "click",
...                          "timestamp": 1732270000, "value": None,
...                          "event_id": "optional-idempotency-key",
...                          "recommendation_id": "optional"}])
>>> result.accepted, result.duplicates, result.errors
(1, 0, [])
>>> result = engine.ingest([{"user_id": "u2", "item_id": "i1", "type": "click",
...                          "timestamp": 1732270001},
...                         {"user_id": "u2", "item_id": "i2", "type": "click",
...                          "timestamp": 1732270002}])
>>> recs = engine.recommend("u1", n=10, scenario="home")
>>> recs[0].item_id, recs[0].score > 0, len(recs[0].why) > 0
('i2', True, True)
>>> [r.item_id for r in engine.similar("i1", n=10)]
['i2']
>>> [r.item_id for r in engine.rank("u1", ["i3", "i9", "i4"])]
['i3', 'i9', 'i4']
>>> engine.train().startswith("v")
True
>>> stats = engine.stats()
>>> stats["events"], stats["users"], stats["items"], isinstance(stats["model_version"], str)
(3, 2, 2, True)
>>> engine.close()
>>> with freshrec.Engine.open(None) as memory:
...     memory.ingest([{"user_id": "u", "item_id": "i", "type": "view"}]).accepted
1
"""


def run_doctest(text: str, globs: dict[str, Any], name: str) -> None:
    test = doctest.DocTestParser().get_doctest(text, globs, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    output: list[str] = []
    runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)


def test_design_python_api_example_runs(tmp_path: Path) -> None:
    run_doctest(DESIGN_EXAMPLE, {"data_dir": str(tmp_path / "data-dir")}, "DESIGN.md")


def test_freshness_changes_with_the_users_events_items_and_models(engine: Engine) -> None:
    before = engine.freshness("u1")
    assert before[0] == 0
    engine.ingest([click("u1", "a", 1)])
    after_event = engine.freshness("u1")
    assert after_event[0] == 1 and after_event != before
    assert engine.freshness("someone-else") == (0, *after_event[1:])
    engine.upsert_items([{"item_id": "a", "title": "A"}])
    after_item = engine.freshness("u1")
    assert after_item[1] == after_event[1] + 1
    engine.ingest([click(f"v{i}", "b", 2 + i) for i in range(5)])
    engine.train()
    assert engine.freshness("u1")[2] != after_item[2]
