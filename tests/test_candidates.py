"""Candidate retrieval: answers from nominees equal whole-catalogue answers where they overlap."""

from __future__ import annotations

import time

import numpy as np
import pytest

from conftest import ConfigFactory, EventFactory, catalogue
from freshrec import scenarios
from freshrec.blending import Blend, Source, blend, blend_candidates, lookup, strongest
from freshrec.engine import Engine
from freshrec.retrieval.ann import VectorIndexConfig
from freshrec.retrieval.live_index import IndexedVectors, LiveIndex, build_index
from freshrec.state.popularity import DecayedPopularity, HotList

# Candidate retrieval from the first item on (the production default starts at 20,000).
ALWAYS = {"candidates_from_items": 1}
NEVER = {"candidates_from_items": 10**9}


def _source(name: str, scores: np.ndarray, nominees: list[int] | None) -> Source:
    return Source(
        name,
        1.0,
        lambda: scores.copy(),
        False,
        None if nominees is None else (lambda: np.array(nominees, dtype=np.int64)),
        lambda items: scores[items].copy(),
    )


def test_candidate_blend_equals_the_dense_blend_on_its_items() -> None:
    a = np.array([0.0, 4.0, 1.0, 2.0, 0.0, 0.5])
    b = np.array([3.0, 0.0, 0.0, 1.0, 0.2, 0.0])
    allowed = np.array([True, True, True, False, True, True])
    sources = [_source("a", a, [1, 2, 3]), _source("b", b, [0, 3, 4])]
    dense = blend(sources, allowed)
    sparse = blend_candidates(sources, allowed, 2)
    assert sparse is not None and sparse.items is not None
    assert sparse.items.tolist() == [0, 1, 2, 4]  # item 3 is not allowed
    np.testing.assert_allclose(sparse.scores, dense.scores[sparse.items])
    for name in ("a", "b"):
        np.testing.assert_allclose(sparse.parts[name], dense.parts[name][sparse.items])


def test_candidate_blend_falls_back_when_it_cannot_answer_in_full() -> None:
    a = np.array([1.0, 2.0, 3.0])
    allowed = np.ones(3, dtype=np.bool_)
    # Fewer allowed nominees than the answer's length.
    assert blend_candidates([_source("a", a, [2])], allowed, 2) is None
    # A weighted source that cannot score candidates.
    dense_only = Source("d", 1.0, lambda: a.copy())
    assert blend_candidates([_source("a", a, [0, 1, 2]), dense_only], allowed, 1) is None
    # A zero-weight source never blocks the candidate path.
    off = dense_only._replace(weight=0.0)
    assert blend_candidates([_source("a", a, [0, 1, 2]), off], allowed, 1) is not None


def test_blend_positions_map_to_items() -> None:
    result = Blend(np.array([0.5, 0.2, 0.9]), {}, np.array([3, 7, 9], dtype=np.int64))
    assert result.item_of(np.array([2, 0])).tolist() == [9, 3]
    assert result.positions_of(np.array([9, 4, 3, 11])).tolist() == [2, 0]
    whole = Blend(np.zeros(4))
    assert whole.positions_of(np.array([1, 3])).tolist() == [1, 3]


def test_sparse_helpers() -> None:
    keys = np.array([2, 5, 9], dtype=np.int64)
    values = np.array([0.1, 0.7, 0.3])
    assert lookup(keys, values, np.array([9, 1, 5, 12])).tolist() == [0.3, 0.0, 0.7, 0.0]
    assert lookup(keys[:0], values[:0], np.array([1])).tolist() == [0.0]
    assert sorted(strongest(keys, values, 2).tolist()) == [5, 9]
    assert strongest(keys, values, 5).tolist() == [2, 5, 9]


def test_hot_list_is_reused_until_it_is_too_old() -> None:
    popularity = DecayedPopularity(3600.0)
    popularity.add_many([1, 2, 2], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    hot = HotList(popularity)
    assert hot.top(2, 60.0).tolist() == [2, 1]
    popularity.add_many([3, 3, 3], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert hot.top(2, 60.0).tolist() == [2, 1]  # fresh enough: not recomputed
    assert hot.top(3, 60.0).tolist() == [3, 2, 1]  # a longer list is computed at once
    assert hot.top(2, 0.0).tolist() == [3, 2]
    np.testing.assert_allclose(popularity.at(np.array([3, 9])), [3.0, 0.0], rtol=1e-3)


@pytest.mark.parametrize("background", [False, True])
def test_live_index_follows_rewritten_rows(background: bool) -> None:
    matrix = np.zeros((6, 2), dtype=np.float32)
    matrix[:3] = [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]
    index = build_index(VectorIndexConfig(dim=2, metric="ip"), np.arange(3), matrix[:3])

    def vectors_of(rows: np.ndarray) -> np.ndarray:
        return matrix[rows[rows < len(matrix)]]

    live = LiveIndex(index, vectors_of, background)
    try:
        matrix[4] = [5.0, 5.0]  # a new row
        matrix[0] = [0.0, 0.0]  # a row that lost its vector
        live.changed([4, 0, 17])  # 17: beyond the matrix (a shorter retrain), ignored
        assert live.wait_idle(5.0)
        assert live.search(np.array([1.0, 1.0]), 2).tolist() == [4, 2]
        assert 0 not in live.search(np.array([1.0, 0.0]), 5).tolist()
    finally:
        live.close()


def _engine(
    make_config: ConfigFactory, make_events: EventFactory, retrieval: dict[str, int]
) -> Engine:
    config = make_config(retrieval=retrieval, blend={"trending": 0.1})
    engine = Engine.open(None, config, background_training=False)
    engine.upsert_items(catalogue(40))
    engine.ingest(make_events(n_users=30, n_items=40, n_events=600))
    engine.train()
    return engine


def test_candidate_answers_equal_whole_catalogue_answers(
    make_config: ConfigFactory, make_events: EventFactory
) -> None:
    # Nominee counts exceed this catalogue, so every item with evidence is a candidate and
    # the two paths must agree on every answer (ids exactly, scores to rounding).
    with (
        _engine(make_config, make_events, ALWAYS) as fast,
        _engine(make_config, make_events, NEVER) as whole,
    ):
        for user in [f"u{k}" for k in range(30)] + ["stranger"]:
            for scenario in (scenarios.HOME, scenarios.NEW_USER):
                got = fast.recommend(user, 10, scenario)
                want = whole.recommend(user, 10, scenario)
                assert [r.item_id for r in got] == [r.item_id for r in want], (user, scenario)
                np.testing.assert_allclose(
                    [r.score for r in got], [r.score for r in want], rtol=1e-5
                )
                assert [r.why for r in got] == [r.why for r in want]
            assert fast.recommend_ids(user, 5) == whole.recommend_ids(user, 5)


def test_candidate_answers_reflect_the_next_event(
    make_config: ConfigFactory, make_events: EventFactory
) -> None:
    with _engine(make_config, make_events, ALWAYS) as engine:
        first = engine.recommend("u1", 5)[0].item_id
        engine.ingest([{"user_id": "u1", "item_id": first, "type": "purchase"}])
        assert first not in [r.item_id for r in engine.recommend("u1", 5)]


def test_new_items_reach_the_factor_index(
    make_config: ConfigFactory, make_events: EventFactory
) -> None:
    with _engine(make_config, make_events, ALWAYS) as engine:
        # A brand-new item liked by two users gets folded-in factors, and with them a place
        # in the index that nominates factor candidates.
        engine.ingest(
            [
                {"user_id": user, "item_id": "brand-new", "type": "purchase", "timestamp": stamp}
                for user, stamp in (("u2", time.time() - 5), ("u4", time.time() - 4))
            ]
        )
        engine.recommend("u6", 5)  # a read folds the new item in
        engine.wait_for_training(5.0)
        factors = engine._models.factors
        assert factors.index is not None
        iidx = engine._state.items.get("brand-new")
        assert iidx is not None and iidx in factors.index.index


def test_live_index_skips_rows_that_barely_moved() -> None:
    matrix = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    index = build_index(VectorIndexConfig(dim=2, metric="ip"), np.arange(2), matrix)
    live = LiveIndex(index, lambda rows: matrix[rows], background=False, tolerance=0.05)
    matrix[0] = [1.01, 0.0]  # 1 % off: not worth a write
    matrix[1] = [0.0, 2.0]  # doubled: written
    live.changed([0, 1])
    ids, vectors = index.vectors()
    stored = dict(zip(ids.tolist(), vectors.tolist(), strict=True))
    assert stored[0] == [1.0, 0.0]
    assert stored[1] == [0.0, 2.0]


def test_live_index_drift_is_the_share_of_rows_it_would_rewrite() -> None:
    matrix = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]], dtype=np.float32)
    index = build_index(VectorIndexConfig(dim=2, metric="ip"), np.arange(3), matrix[:3])
    live = LiveIndex(index, lambda rows: matrix[rows], background=False, tolerance=0.05)
    moved = matrix.copy()
    moved[0] = [1.01, 0.0]  # within tolerance
    moved[1] = [0.0, 3.0]  # moved
    # Row 3 is not in the index: it would be written too.
    assert live.drift(np.arange(4), moved) == 0.5
    assert live.drift(np.arange(0), moved[:0]) == 0.0
    # A copy made from the rows an index was built from equals one read back from it.
    built, read = IndexedVectors.from_rows(np.arange(3), matrix[:3]), IndexedVectors.of(index)
    np.testing.assert_array_equal(built.vectors, read.vectors)
    np.testing.assert_array_equal(built.held, read.held)


@pytest.mark.parametrize(
    ("rebuild_after", "rebuild_share", "kept"),
    [(3_600.0, 1.0, True), (0.0, 1.0, False), (3_600.0, 0.0, False)],
    ids=["young-any-drift-allowed", "old", "moved-more-than-allowed"],
)
def test_warm_retrains_keep_the_factor_index_until_it_is_old_or_far_off(
    make_config: ConfigFactory,
    make_events: EventFactory,
    rebuild_after: float,
    rebuild_share: float,
    kept: bool,
) -> None:
    config = make_config(
        retrieval={
            **ALWAYS,
            "factor_index_rebuild_seconds": rebuild_after,
            "factor_index_rebuild_share": rebuild_share,
        },
        factors={"warm_start_iterations": 2},
    )
    with Engine.open(None, config, background_training=False) as engine:
        engine.ingest(make_events(n_users=30, n_items=40, n_events=400))
        engine.train()
        first = engine._models.factors.index
        assert first is not None
        serving = first.index
        engine.ingest(make_events(n_users=30, n_items=40, n_events=200, seed=1, id_prefix="x"))
        engine.train()
        assert (first.index is serving) is kept
        # Kept or new, the index holds the retrained rows (a kept one rewrote those that moved).
        factors, trained, _ = engine._models.factors.trained_state()
        rows = np.flatnonzero(trained)
        assert first.drift(rows, factors[rows]) == 0.0


def test_background_retrains_wait_for_the_minimum_interval(
    make_config: ConfigFactory, make_events: EventFactory
) -> None:
    events = make_events(n_users=30, n_items=40, n_events=600)
    for interval, retrains in ((3_600.0, 1), (0.0, 2)):
        config = make_config(
            training={
                "retrain_every_events": 100,
                "min_events": 100,
                "min_interval_seconds": interval,
            }
        )
        with Engine.open(None, config) as engine:
            versions = []
            for batch in (events[:300], events[300:]):
                engine.ingest(batch)
                engine.wait_for_training(30.0)
                versions.append(engine.stats()["model_version"])
            assert len(set(versions)) == retrains, versions
