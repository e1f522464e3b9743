"""VectorIndex: exact below the threshold, HNSW above it, live additions and removals."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from freshrec.errors import FreshrecError
from freshrec.retrieval import VectorIndex, VectorIndexConfig, VectorIndexError, ann
from freshrec.rwlock import ReadWriteLock

DIM = 24


def vectors(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def normalised(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)


def brute_force(
    ids: np.ndarray, matrix: np.ndarray, query: np.ndarray, n: int, metric: str = "cosine"
) -> tuple[np.ndarray, np.ndarray]:
    if metric == "cosine":
        matrix, query = normalised(matrix), normalised(query)
    scores = matrix @ query
    order = np.argsort(-scores, kind="stable")[:n]
    return ids[order], scores[order]


def check_contract(ids: np.ndarray, scores: np.ndarray, n: int) -> None:
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    assert len(ids) == len(scores) <= n
    assert len(set(ids.tolist())) == len(ids)
    assert np.all(np.diff(scores) <= 1e-6)


def recall(index: VectorIndex, ids: np.ndarray, matrix: np.ndarray, queries: np.ndarray) -> float:
    hits = 0
    for query in queries:
        truth, _ = brute_force(ids, matrix, query, 10)
        found, scores = index.search(query, 10)
        check_contract(found, scores, 10)
        hits += len(set(found.tolist()) & set(truth.tolist()))
    return hits / (10 * len(queries))


def graph_index(n: int = 3000, seed: int = 0, **settings: object) -> tuple[VectorIndex, np.ndarray]:
    """An index past its (small) threshold, holding sparse ids 7, 10, 13, ..."""
    index = VectorIndex(VectorIndexConfig(dim=DIM, exact_below=300, **settings))  # type: ignore[arg-type]
    ids = np.arange(n, dtype=np.int64) * 3 + 7
    index.upsert(ids, vectors(n, seed))
    assert not index.is_exact
    return index, ids


# ------------------------------------------------------------------ exact mode


@pytest.mark.parametrize("metric", ["cosine", "ip"])
def test_exact_mode_equals_brute_force(metric: str) -> None:
    matrix = vectors(500, seed=1)
    ids = np.random.default_rng(2).choice(10**9, size=500, replace=False).astype(np.int64)
    index = VectorIndex(VectorIndexConfig(dim=DIM, metric=metric))  # type: ignore[arg-type]
    index.upsert(ids, matrix)
    assert index.is_exact and len(index) == 500
    for query in vectors(20, seed=3):
        found, scores = index.search(query, 10)
        truth, truth_scores = brute_force(ids, matrix, query, 10, metric)
        assert found.tolist() == truth.tolist()
        np.testing.assert_allclose(scores, truth_scores, rtol=1e-5, atol=1e-5)


def test_ip_metric_ranks_by_inner_product_not_cosine() -> None:
    index = VectorIndex(VectorIndexConfig(dim=2, metric="ip"))
    # Item 1 points the query's way; item 2 is 45° off but ten times longer.
    index.upsert(np.array([1, 2]), np.array([[1.0, 0.0], [10.0, 10.0]]))
    found, scores = index.search(np.array([1.0, 0.0]), 2)
    assert found.tolist() == [2, 1]
    np.testing.assert_allclose(scores, [10.0, 1.0])
    cosine = VectorIndex(VectorIndexConfig(dim=2, metric="cosine"))
    cosine.upsert(np.array([1, 2]), np.array([[1.0, 0.0], [10.0, 10.0]]))
    assert cosine.search(np.array([3.0, 0.0]), 2)[0].tolist() == [1, 2]


def test_ip_metric_in_graph_mode() -> None:
    matrix = vectors(2000, seed=4) * np.linspace(0.5, 2.0, 2000, dtype=np.float32)[:, None]
    ids = np.arange(2000, dtype=np.int64)
    index = VectorIndex(VectorIndexConfig(dim=DIM, metric="ip", exact_below=300))
    index.upsert(ids, matrix)
    hits = 0
    for query in vectors(50, seed=5):
        truth, _ = brute_force(ids, matrix, query, 10, "ip")
        found, scores = index.search(query, 10)
        hits += len(set(found.tolist()) & set(truth.tolist()))
        assert scores[0] == pytest.approx(float(matrix[found[0]] @ query), rel=1e-4)
    assert hits / 500 >= 0.85


def test_empty_index_and_n_zero() -> None:
    index = VectorIndex(VectorIndexConfig(dim=DIM))
    found, scores = index.search(vectors(1, 0)[0], 10)
    assert found.tolist() == [] and scores.tolist() == []
    assert found.dtype == np.int64 and scores.dtype == np.float32
    assert len(index) == 0 and 3 not in index
    index.upsert(np.array([3]), vectors(1, 0))
    assert index.search(vectors(1, 0)[0], 0)[0].tolist() == []
    assert index.remove([3]) == 1
    assert index.search(vectors(1, 0)[0], 10)[0].tolist() == []


# ------------------------------------------------------------------ graph mode


def test_graph_mode_recall_band() -> None:
    index, ids = graph_index(3000)
    assert 0.9 <= recall(index, ids, vectors(3000, 0), vectors(100, seed=9)) <= 1.0


def test_switches_to_graph_at_threshold_with_the_same_ids() -> None:
    index = VectorIndex(VectorIndexConfig(dim=DIM, exact_below=100))
    matrix = vectors(150, seed=6)
    index.upsert(np.arange(99), matrix[:99])
    assert index.is_exact
    index.upsert(np.arange(99, 150), matrix[99:])
    assert not index.is_exact and len(index) == 150
    assert all(i in index for i in range(150)) and 150 not in index
    found, _ = index.search(matrix[0], 200)
    assert sorted(found.tolist()) == list(range(150))


def test_goes_back_to_exact_below_half_the_threshold_with_the_same_ids() -> None:
    index, ids = graph_index(400)
    matrix = vectors(400, 0)
    assert index.remove(ids[:260]) == 260
    assert index.is_exact and len(index) == 140
    found, _ = index.search(matrix[300], 500)
    assert sorted(found.tolist()) == sorted(ids[260:].tolist())
    truth, _ = brute_force(ids[260:], matrix[260:], matrix[300], 10)
    assert index.search(matrix[300], 10)[0].tolist() == truth.tolist()


def test_grows_past_initial_capacity() -> None:
    index = VectorIndex(VectorIndexConfig(dim=DIM, exact_below=50, initial_capacity=16))
    matrix = vectors(1000, seed=7)
    for start in range(0, 1000, 37):
        index.upsert(np.arange(start, min(start + 37, 1000)), matrix[start : start + 37])
    assert len(index) == 1000 and not index.is_exact
    assert index.search(matrix[999], 1)[0].tolist() == [999]


# ------------------------------------------------------------------ live updates


@pytest.mark.parametrize("exact_below", [10_000, 300])
def test_additions_are_visible_to_the_very_next_search(exact_below: int) -> None:
    index = VectorIndex(VectorIndexConfig(dim=DIM, exact_below=exact_below))
    index.upsert(np.arange(1000), vectors(1000, seed=8))
    for offset, vector in enumerate(vectors(50, seed=9)):
        index.upsert(np.array([5000 + offset]), vector[None])
        assert index.search(vector, 1)[0].tolist() == [5000 + offset]
    assert len(index) == 1050


@pytest.mark.parametrize("exact_below", [10_000, 300])
def test_removed_ids_are_never_returned(exact_below: int) -> None:
    index = VectorIndex(VectorIndexConfig(dim=DIM, exact_below=exact_below))
    matrix = vectors(1500, seed=10)
    ids = np.arange(1500, dtype=np.int64) * 2
    index.upsert(ids, matrix)
    gone = ids[::3]
    assert index.remove(gone) == len(gone)
    assert index.remove(gone) == 0  # unknown ids are ignored
    assert index.remove([123_456_789]) == 0
    gone_set = set(gone.tolist())
    for item in gone[:100]:
        assert item not in index
    for vector in matrix[::3][:200]:  # the removed vectors themselves as queries
        found, _ = index.search(vector, 20)
        assert not gone_set & set(found.tolist())
    everything, _ = index.search(matrix[0], 5000)
    assert sorted(everything.tolist()) == sorted(set(ids.tolist()) - gone_set)


def test_removed_id_can_come_back() -> None:
    index, ids = graph_index(1000)
    matrix = vectors(1000, 0)
    index.remove(ids[:100])
    index.upsert(ids[:100], matrix[:100])
    for item, vector in zip(ids[:100], matrix[:100], strict=True):
        assert index.search(vector, 1)[0].tolist() == [item]
    found, _ = index.search(matrix[0], 2000)
    assert sorted(found.tolist()) == sorted(ids.tolist())


def test_slots_of_removed_vectors_are_recycled_without_losing_ids() -> None:
    # Churn: every round removes 150 ids and adds 150 new ones; hnswlib recycles the
    # deleted slots, and every id must stay findable and removable afterwards.
    index, ids = graph_index(600)
    live = dict(zip(ids.tolist(), vectors(600, 0), strict=True))
    next_id = 10**6
    for round_ in range(5):
        out = list(live)[:150]
        index.remove(out)
        for item in out:
            del live[item]
        new = np.arange(next_id, next_id + 150)
        next_id += 150
        fresh = vectors(150, seed=100 + round_)
        index.upsert(new, fresh)
        live.update(zip(new.tolist(), fresh, strict=True))
    assert len(index) == len(live) == 600
    found, _ = index.search(vectors(1, 1)[0], 5000)
    assert sorted(found.tolist()) == sorted(live)
    probe = list(live)[:300]
    assert index.remove(probe) == 300
    assert not set(probe) & set(index.search(vectors(1, 2)[0], 5000)[0].tolist())


@pytest.mark.parametrize("exact_below", [10_000, 300])
def test_upsert_replaces_the_vector(exact_below: int) -> None:
    index = VectorIndex(VectorIndexConfig(dim=DIM, exact_below=exact_below))
    matrix = vectors(1000, seed=11)
    index.upsert(np.arange(1000), matrix)
    old, new = matrix[5].copy(), -matrix[5]
    index.upsert(np.array([5]), new[None])
    assert len(index) == 1000
    assert index.search(new, 1)[0].tolist() == [5]
    found, scores = index.search(old, 1000)
    assert found[-1] == 5 and scores[-1] == pytest.approx(-1.0, abs=1e-5)


def test_repeated_id_in_one_upsert_keeps_the_last_vector() -> None:
    index = VectorIndex(VectorIndexConfig(dim=2))
    index.upsert(np.array([1, 2, 1]), np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    assert len(index) == 2
    assert index.search(np.array([-1.0, 0.0]), 1)[0].tolist() == [1]


# ------------------------------------------------------------------ exclude and n


@pytest.mark.parametrize("exact_below", [10_000, 300])
def test_exclude_is_honoured_and_still_fills_n(exact_below: int) -> None:
    index = VectorIndex(VectorIndexConfig(dim=DIM, exact_below=exact_below))
    matrix = vectors(2000, seed=12)
    index.upsert(np.arange(2000), matrix)
    query = matrix[0]
    first, _ = index.search(query, 50)
    banned = set(first[:40].tolist())
    found, scores = index.search(query, 10, exclude=banned)
    check_contract(found, scores, 10)
    assert len(found) == 10 and not banned & set(found.tolist())
    as_list, _ = index.search(query, 10, exclude=list(banned))
    assert as_list.tolist() == found.tolist()
    nearly_all = set(range(1995))
    rest, _ = index.search(query, 10, exclude=nearly_all)
    assert sorted(rest.tolist()) == [1995, 1996, 1997, 1998, 1999]


@pytest.mark.parametrize("exact_below", [10_000, 300])
def test_n_larger_than_the_index_returns_every_live_id_in_order(exact_below: int) -> None:
    index = VectorIndex(VectorIndexConfig(dim=DIM, exact_below=exact_below))
    matrix = vectors(800, seed=13)
    index.upsert(np.arange(800), matrix)
    found, scores = index.search(matrix[1], 10_000)
    check_contract(found, scores, 10_000)
    assert sorted(found.tolist()) == list(range(800))
    truth, _ = brute_force(np.arange(800), matrix, matrix[1], 800)
    assert found.tolist() == truth.tolist()


def test_deletion_heavy_graph_still_returns_every_live_id() -> None:
    index = VectorIndex(VectorIndexConfig(dim=DIM, exact_below=100, ef_search=10))
    matrix = vectors(2000, seed=14)
    index.upsert(np.arange(2000), matrix)
    index.remove(np.arange(60, 2000))
    assert not index.is_exact and len(index) == 60
    found, _ = index.search(matrix[1500], 60)
    assert sorted(found.tolist()) == list(range(60))


# ------------------------------------------------------------------ errors


def test_errors_are_named() -> None:
    index = VectorIndex(VectorIndexConfig(dim=DIM))
    assert issubclass(VectorIndexError, FreshrecError)
    with pytest.raises(VectorIndexError, match="shape"):
        index.upsert(np.array([1]), vectors(1, 0, dim=DIM + 1))
    with pytest.raises(VectorIndexError, match="shape"):
        index.search(vectors(1, 0, dim=DIM - 1)[0], 5)
    with pytest.raises(VectorIndexError, match="shape"):
        index.search(vectors(2, 0), 5)
    with pytest.raises(VectorIndexError, match="2 ids but 1 vectors"):
        index.upsert(np.array([1, 2]), vectors(1, 0))
    with pytest.raises(VectorIndexError, match="non-negative"):
        index.upsert(np.array([-1]), vectors(1, 0))
    with pytest.raises(VectorIndexError, match="integers"):
        index.upsert(np.array([1.5]), vectors(1, 0))
    bad = vectors(1, 0)
    bad[0, 3] = np.nan
    with pytest.raises(VectorIndexError, match="finite"):
        index.upsert(np.array([1]), bad)
    with pytest.raises(VectorIndexError, match="metric"):
        VectorIndexConfig(dim=DIM, metric="l2")  # type: ignore[arg-type]
    with pytest.raises(VectorIndexError, match="dim"):
        VectorIndexConfig(dim=0)
    assert len(index) == 0


# ------------------------------------------------------------------ threads


@pytest.mark.parametrize("exact_below", [10_000, 300, 1_300])  # 1,300: switches mid-run
def test_concurrent_search_upsert_remove(exact_below: int) -> None:
    """Readers never see an id whose removal had returned before their search started."""
    index = VectorIndex(VectorIndexConfig(dim=DIM, exact_below=exact_below))
    matrix = vectors(1800, seed=15)
    index.upsert(np.arange(1000), matrix[:1000])
    removed: set[int] = set()  # ids whose remove() has returned; never re-added
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for step in range(40):
                new = np.arange(1000 + 20 * step, 1000 + 20 * (step + 1))
                index.upsert(new, matrix[new])
                out = list(range(10 * step, 10 * (step + 1)))
                index.remove(out)
                removed.update(out)  # after remove returned
                index.upsert(new[:5], -matrix[new[:5]])  # replacements too
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            done.set()

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            while not done.is_set():
                before = set(removed)
                query = matrix[rng.integers(1800)]
                found, scores = index.search(query, 20, exclude={1, 2, 3})
                check_contract(found, scores, 20)
                leaked = before & set(found.tolist())
                assert not leaked, f"removed ids returned: {sorted(leaked)[:5]}"
                assert not {1, 2, 3} & set(found.tolist())
                assert len(found) == 20
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(3)]
    threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors[0]
    assert len(index) == 1800 - 400
    assert index.is_exact is (exact_below == 10_000)
    found, _ = index.search(matrix[0], 5000)
    assert sorted(found.tolist()) == list(range(400, 1800))


def test_graph_is_built_outside_the_lock_and_catches_up_with_writes_made_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = VectorIndex(VectorIndexConfig(dim=DIM, exact_below=500))
    matrix = vectors(700, seed=16)
    index.upsert(np.arange(400), matrix[:400])
    seen_during_build: list[list[int]] = []
    real_upsert = ann._Graph.upsert
    calls = []

    def upsert_with_interference(graph: ann._Graph, ids: np.ndarray, vecs: np.ndarray) -> None:
        calls.append(len(ids))
        if len(calls) == 1:  # the private build: other threads write and search meanwhile

            def other() -> None:
                index.upsert(np.array([600, 601]), matrix[600:602])
                index.remove([0, 1, 600])
                index.upsert(np.array([2]), -matrix[2][None])
                seen_during_build.append(index.search(matrix[601], 1)[0].tolist())

            thread = threading.Thread(target=other)
            thread.start()
            thread.join(timeout=30)
            assert not thread.is_alive(), "a write blocked on the build"
        real_upsert(graph, ids, vecs)

    monkeypatch.setattr(ann._Graph, "upsert", upsert_with_interference)
    index.upsert(np.arange(400, 550), matrix[400:550])
    assert seen_during_build == [[601]]  # served exactly while the graph was being built
    assert not index.is_exact
    assert len(index) == 550 + 2 - 3
    assert 601 in index and 0 not in index and 1 not in index and 600 not in index
    found, _ = index.search(matrix[0], 1000)
    assert sorted(found.tolist()) == sorted({*range(2, 550), 601})
    assert index.search(-matrix[2], 1)[0].tolist() == [2]


def wait_for(condition: object, what: str) -> None:
    for _ in range(10_000):
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


def test_lock_lets_readers_that_waited_for_a_write_in_before_the_next_writer() -> None:
    lock = ReadWriteLock()
    order: list[str] = []

    def read() -> None:
        with lock.reading():
            order.append("read")

    def write() -> None:
        with lock.writing():
            order.append("write")

    with lock.writing():
        reader = threading.Thread(target=read)
        reader.start()
        wait_for(lambda: lock._readers_waiting == 1, "reader waiting")
        writer = threading.Thread(target=write)
        writer.start()
        wait_for(lambda: lock._writers_waiting == 1, "writer waiting")
    reader.join(timeout=10)
    writer.join(timeout=10)
    assert order == ["read", "write"]


def test_lock_holds_new_readers_back_while_a_writer_waits() -> None:
    lock = ReadWriteLock()
    order: list[str] = []

    def read() -> None:
        with lock.reading():
            order.append("late read")

    def write() -> None:
        with lock.writing():
            order.append("write")

    with lock.reading():
        writer = threading.Thread(target=write)
        writer.start()
        wait_for(lambda: lock._writers_waiting == 1, "writer waiting")
        reader = threading.Thread(target=read)
        reader.start()
        wait_for(lambda: lock._readers_waiting == 1, "late reader waiting")
        order.append("first read done")
    writer.join(timeout=10)
    reader.join(timeout=10)
    assert order == ["first read done", "write", "late read"]


def test_graph_write_chunks_are_sized_to_hold_the_lock_about_two_milliseconds() -> None:
    from freshrec.retrieval.ann import _WRITE_CHUNK_MAX, _WRITE_HOLD_SECONDS, _next_chunk

    # Cheap vectors: the chunk doubles, up to the cap.
    assert _next_chunk(8, _WRITE_HOLD_SECONDS / 100) == 16
    assert _next_chunk(_WRITE_CHUNK_MAX, 0.0) == _WRITE_CHUNK_MAX
    # Costly ones (1 ms each): two per hold.
    assert _next_chunk(8, 0.008) == 2
    # A single vector slower than the hold: one at a time.
    assert _next_chunk(1, 0.05) == 1
