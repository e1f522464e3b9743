"""A vector index over item vectors that takes additions and removals while serving.

Below ``exact_below`` live vectors the index answers exactly (one float32 mat-vec and a
partial sort); from there on it keeps an HNSW graph (hnswlib). The numbers behind the
choice of library, the default threshold and the default ``ef_search`` are in
docs/benchmarks.md, "ANN index (2026-11-24)", produced by ``bench/ann.py``.

Guarantees, in both modes:

- an id given to :meth:`VectorIndex.upsert` is returned by the very next search (the write
  is applied before ``upsert`` returns; there is no background merge);
- an id given to :meth:`VectorIndex.remove` is never returned by a search that starts after
  ``remove`` returned (hnswlib marks it deleted; deleted slots are reused by later additions);
- searches may run from many threads while other threads upsert or remove: a readers/writer
  lock lets searches overlap each other and keeps writes exclusive, because hnswlib's
  ``knn_query`` must not run concurrently with ``add_items``, ``mark_deleted`` or
  ``resize_index``.

Writes never stall searches for long: graph insertions (~1 ms each at 1M vectors) take the
lock 32 vectors at a time, and the one big job, building the graph when the index crosses
``exact_below`` (e.g. at start-up: ~55 s for 100k x 384 on one thread), runs outside the
lock on a snapshot while searches stay exact; writes made meanwhile are replayed onto the
new graph before it takes over. The ``upsert`` call that crossed the threshold returns when
the graph has taken over.

hnswlib labels are private: each inserted vector gets a fresh label that is never reused, so
hnswlib's replace-deleted path (which drops the label of the slot it recycles) can only ever
drop a label nobody refers to any more.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

import hnswlib
import numpy as np
import numpy.typing as npt

from freshrec.errors import FreshrecError
from freshrec.retrieval.topk import top_n
from freshrec.rwlock import ReadWriteLock

# A large graph upsert is written in chunks sized to hold the write lock about this long,
# so searches get in between. Per-vector cost varies tenfold and more: an insertion costs
# 0.04 ms (ef_construction 64) to 0.14 ms (200) at 100k 64-d vectors and ~1 ms at 1M 384-d
# ones; replacing a live vector (hnswlib re-links its node) about twice an insertion
# (bench/ann_update.py). A fixed count of 32 held searches up to ~60 ms while a retrain's
# moved item factors were rewritten.
_WRITE_HOLD_SECONDS = 0.002
_WRITE_CHUNK_MAX = 256

IdArray = npt.NDArray[np.int64]
ScoreArray = npt.NDArray[np.float32]
Metric = Literal["cosine", "ip"]


class VectorIndexError(FreshrecError, ValueError):
    """A vector, id or setting given to a :class:`VectorIndex` is unusable."""


@dataclass(frozen=True)
class VectorIndexConfig:
    """Settings of one :class:`VectorIndex`.

    Attributes:
        dim: vector length.
        metric: ``"cosine"`` (vectors and queries are normalised on the way in; scores are
            cosine similarities in [-1, 1]) or ``"ip"`` (raw inner product, for
            matrix-factorisation vectors; scores are dot products).
        exact_below: below this many live vectors, search is exact; at or above it, the
            HNSW graph answers. The index goes back to exact when removals take it below
            half of this (hysteresis, so a catalogue near the threshold does not flap).
        m: HNSW links per node (hnswlib ``M``; the bottom layer keeps ``2 * m``).
        ef_construction: candidate list length while inserting (build quality and cost).
        ef_search: candidate list length while searching (recall against latency); a
            search for ``k`` results uses ``max(ef_search, k)``.
        build_threads: threads hnswlib may use to build the graph when the index crosses
            ``exact_below`` (the start-up build); searches and later upserts always use
            one thread. Building on 2 threads halves the start-up wait but takes the
            cores from the exact searches served meanwhile.
        initial_capacity: graph slots allocated when the graph is first built on top of
            the live count; the graph doubles when full.
        seed: hnswlib's random seed for node levels (same data, same seed, same graph when
            built with one thread).
    """

    dim: int
    metric: Metric = "cosine"
    exact_below: int = 10_000
    m: int = 16
    ef_construction: int = 200
    ef_search: int = 160
    build_threads: int = 1
    initial_capacity: int = 1_024
    seed: int = 100

    def __post_init__(self) -> None:
        if self.dim <= 0:
            raise VectorIndexError(f"dim must be positive, got {self.dim}")
        if self.metric not in ("cosine", "ip"):
            raise VectorIndexError(f"metric must be 'cosine' or 'ip', got {self.metric!r}")
        for name in ("exact_below", "m", "ef_construction", "ef_search", "build_threads"):
            if getattr(self, name) < 1:
                raise VectorIndexError(f"{name} must be at least 1, got {getattr(self, name)}")


def _next_chunk(size: int, took: float) -> int:
    """The next chunk's size, aiming at ``_WRITE_HOLD_SECONDS`` of write-lock time."""
    if took <= 0:
        return _WRITE_CHUNK_MAX
    return max(1, min(_WRITE_CHUNK_MAX, 2 * size, int(size * _WRITE_HOLD_SECONDS / took)))


class _Exact:
    """Live vectors in one float32 matrix; row order is arbitrary (removal swaps in the last)."""

    def __init__(self, dim: int, capacity: int) -> None:
        self.matrix = np.zeros((max(capacity, 16), dim), dtype=np.float32)
        self.ids = np.zeros(len(self.matrix), dtype=np.int64)
        self.row_of: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.row_of)

    def upsert(self, ids: IdArray, vectors: npt.NDArray[np.float32]) -> None:
        size = len(self.row_of)
        rows = np.empty(len(ids), dtype=np.int64)
        for position, item in enumerate(ids.tolist()):
            row = self.row_of.get(item)
            if row is None:
                row = self.row_of[item] = size
                size += 1
            rows[position] = row
        if size > len(self.matrix):
            grown = max(size, 2 * len(self.matrix))
            self.matrix = np.resize(self.matrix, (grown, self.matrix.shape[1]))
            self.ids = np.resize(self.ids, grown)
        self.matrix[rows] = vectors
        self.ids[rows] = ids

    def remove(self, ids: Iterable[int]) -> int:
        removed = 0
        for item in ids:
            row = self.row_of.pop(item, None)
            if row is None:
                continue
            last = len(self.row_of)  # the old last row, now to be vacated
            if row != last:
                moved = int(self.ids[last])
                self.matrix[row] = self.matrix[last]
                self.ids[row] = moved
                self.row_of[moved] = row
            removed += 1
        return removed

    def search(
        self, query: npt.NDArray[np.float32], n: int, exclude: Iterable[int]
    ) -> tuple[IdArray, ScoreArray]:
        size = len(self.row_of)
        scores = self.matrix[:size] @ query
        excluded = [self.row_of[item] for item in exclude if item in self.row_of]
        if excluded:
            scores[excluded] = -np.inf
        rows = top_n(scores, n)
        return self.ids[rows], scores[rows].astype(np.float32, copy=False)

    def vectors(self) -> tuple[IdArray, npt.NDArray[np.float32]]:
        size = len(self.row_of)
        return self.ids[:size].copy(), self.matrix[:size].copy()


class _Graph:
    """hnswlib HNSW graph with private, never-reused labels (see the module docstring)."""

    def __init__(self, config: VectorIndexConfig, capacity: int) -> None:
        self.config = config
        self.graph = hnswlib.Index(space="ip", dim=config.dim)
        self.graph.init_index(
            max_elements=max(capacity, 16),
            M=config.m,
            ef_construction=config.ef_construction,
            random_seed=config.seed,
            allow_replace_deleted=True,
        )
        self.graph.set_ef(config.ef_search)
        self.label_of: dict[int, int] = {}
        self.id_of_label = np.zeros(max(capacity, 16), dtype=np.int64)
        self.next_label = 0

    def __len__(self) -> int:
        return len(self.label_of)

    def upsert(self, ids: IdArray, vectors: npt.NDArray[np.float32]) -> None:
        known = np.fromiter((item in self.label_of for item in ids.tolist()), bool, len(ids))
        threads = self.config.build_threads if len(ids) > 1_000 else 1
        if known.any():
            # In-place update of live vectors (hnswlib re-links the node).
            labels = np.array([self.label_of[item] for item in ids[known].tolist()], np.uint64)
            self.graph.add_items(vectors[known], labels, num_threads=threads)
        fresh = ids[~known]
        if not len(fresh):
            return
        slots_in_use = self.graph.element_count
        vacant = slots_in_use - len(self.label_of)  # deleted slots that the add may recycle
        needed = slots_in_use + max(0, len(fresh) - vacant)
        if needed > self.graph.max_elements:
            self.graph.resize_index(max(needed, 2 * self.graph.max_elements))
        labels = np.arange(self.next_label, self.next_label + len(fresh), dtype=np.uint64)
        self.next_label += len(fresh)
        if self.next_label > len(self.id_of_label):
            self.id_of_label = np.resize(
                self.id_of_label, max(self.next_label, 2 * len(self.id_of_label))
            )
        self.id_of_label[labels.astype(np.int64)] = fresh
        self.graph.add_items(vectors[~known], labels, num_threads=threads, replace_deleted=True)
        self.label_of.update(zip(fresh.tolist(), labels.tolist(), strict=True))

    def remove(self, ids: Iterable[int]) -> int:
        removed = 0
        for item in ids:
            label = self.label_of.pop(item, None)
            if label is not None:
                self.graph.mark_deleted(label)
                removed += 1
        return removed

    def search(
        self, query: npt.NDArray[np.float32], n: int, exclude: Iterable[int]
    ) -> tuple[IdArray, ScoreArray]:
        excluded = exclude if isinstance(exclude, (set, frozenset, dict)) else set(exclude)
        live = len(self.label_of)
        wanted = min(live, n + sum(1 for item in excluded if item in self.label_of))
        while True:
            try:
                labels, distances = self.graph.knn_query(query, k=wanted, num_threads=1)
            except RuntimeError:
                # hnswlib could not collect ``wanted`` live nodes (a sparse, deletion-heavy
                # graph): ask for more, which also widens the search, and at the end scan.
                if wanted >= live:
                    return self._scan(query, n, excluded)
                wanted = min(live, 2 * wanted)
                continue
            ids = self.id_of_label[labels[0].astype(np.int64)]
            # hnswlib's "ip" distance is 1 - dot.
            scores = (1.0 - distances[0]).astype(np.float32)
            if excluded:
                keep = np.fromiter((item not in excluded for item in ids.tolist()), bool, len(ids))
                ids, scores = ids[keep], scores[keep]
            if len(ids) >= n or wanted >= live:
                return ids[:n], scores[:n]
            wanted = min(live, 2 * wanted)

    def _scan(
        self, query: npt.NDArray[np.float32], n: int, excluded: Iterable[int]
    ) -> tuple[IdArray, ScoreArray]:
        exact = _Exact(self.config.dim, len(self.label_of))
        exact.upsert(*self.vectors())
        return exact.search(query, n, excluded)

    def vectors(self) -> tuple[IdArray, npt.NDArray[np.float32]]:
        ids = np.fromiter(self.label_of.keys(), np.int64, len(self.label_of))
        labels = np.fromiter(self.label_of.values(), np.uint64, len(self.label_of))
        if not len(ids):
            return ids, np.zeros((0, self.config.dim), dtype=np.float32)
        return ids, np.asarray(self.graph.get_items(labels), dtype=np.float32)


class VectorIndex:
    """Top-n search over item vectors keyed by non-negative int64 ids; safe for threads.

    Exact below ``config.exact_below`` live vectors, an HNSW graph at or above it; both
    modes hold exactly the live ids. Ids are the engine's dense item indices but need not
    be contiguous.

    >>> index = VectorIndex(VectorIndexConfig(dim=2))
    >>> index.upsert(np.array([7, 8, 9]), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    >>> index.search(np.array([1.0, 0.1]), 2)[0].tolist()
    [7, 9]
    >>> index.remove(np.array([7]))
    1
    >>> index.search(np.array([1.0, 0.1]), 2, exclude={9})[0].tolist()
    [8]
    """

    def __init__(self, config: VectorIndexConfig) -> None:
        self.config = config
        self._lock = ReadWriteLock()
        self._exact: _Exact | None = _Exact(config.dim, 16)
        self._graph: _Graph | None = None
        # While a graph is built outside the lock, writes also land here, for replay.
        self._building = False
        self._missed: list[tuple[IdArray, npt.NDArray[np.float32] | None]] = []
        # Counts writes, so callers may cache search results until the index changes.
        self.generation = 0

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        """Number of live vectors."""
        with self._lock.reading():
            return len(self._store())

    def __contains__(self, item: object) -> bool:
        """Whether ``item`` is a live id."""
        if not isinstance(item, (int, np.integer)):
            return False
        with self._lock.reading():
            store = self._store()
            keys = store.row_of if isinstance(store, _Exact) else store.label_of
            return int(item) in keys

    @property
    def is_exact(self) -> bool:
        """True while searches are exact (fewer than ``exact_below`` live vectors)."""
        return self._graph is None

    def search(
        self,
        query: npt.ArrayLike,
        n: int,
        *,
        exclude: Iterable[int] | None = None,
    ) -> tuple[IdArray, ScoreArray]:
        """Return the ``n`` live ids scoring highest against ``query``, best first.

        Args:
            query: one vector, shape [dim]; normalised here when the metric is cosine.
            n: how many results at most.
            exclude: ids never to return (e.g. what the user has seen); a set is used as
                is, anything else is copied into one. The search widens until it has
                ``n`` results or has run out of live ids, so excluding does not shorten
                the answer.

        Returns:
            ``(ids, scores)``: int64 and float32, shape [min(n, live ids not excluded)]
            (approximate in graph mode: a result may be missing from the true top-n),
            no duplicates, scores non-increasing; removed ids never appear.

        Raises:
            VectorIndexError: the query is not a finite vector of length ``dim``.
        """
        vector = self._prepare_query(query)
        self._lock.acquire_read()  # not ``with``: this is the hot path
        try:
            store = self._store()
            if n <= 0 or not len(store):
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            return store.search(vector, n, () if exclude is None else exclude)
        finally:
            self._lock.release_read()

    # ------------------------------------------------------------------ writing

    def upsert(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Add new ids and replace the vectors of known ones; visible to the next search.

        Args:
            ids: shape [k], non-negative integers; a repeated id keeps its last vector.
            vectors: shape [k, dim]; normalised here when the metric is cosine.

        Raises:
            VectorIndexError: shapes disagree, an id is negative or a vector is not finite.
        """
        keys = np.asarray(ids)
        if keys.ndim != 1 or (len(keys) and not np.issubdtype(keys.dtype, np.integer)):
            raise VectorIndexError("ids must be a one-dimensional array of integers")
        keys = keys.astype(np.int64, copy=False)
        matrix = self._prepare(vectors)
        if len(matrix) != len(keys):
            raise VectorIndexError(f"{len(keys)} ids but {len(matrix)} vectors")
        if len(keys) and keys.min() < 0:
            raise VectorIndexError("ids must be non-negative")
        if not len(keys):
            return
        self.generation += 1
        # Last occurrence wins: reverse, take first occurrences, restore order.
        _, last = np.unique(keys[::-1], return_index=True)
        if len(last) != len(keys):
            keep = np.sort(len(keys) - 1 - last)
            keys, matrix = keys[keep], matrix[keep]
        start, size = 0, 8
        while start < len(keys):
            chunk = slice(start, start + size)
            with self._lock.writing():
                if self._graph is not None:
                    began = time.perf_counter()
                    self._graph.upsert(keys[chunk], matrix[chunk])
                    took = time.perf_counter() - began
                    start += size
                    size = _next_chunk(size, took)
                    continue
                # Exact mode takes the whole rest of the batch at once (it is cheap).
                assert self._exact is not None
                self._exact.upsert(keys[start:], matrix[start:])
                if self._building:
                    self._missed.append((keys[start:], matrix[start:]))
                build = not self._building and len(self._exact) >= self.config.exact_below
                if build:
                    self._building = True
                    snapshot = self._exact.vectors()
            if build:
                self._build_graph(*snapshot)
            return

    def remove(self, ids: Iterable[int] | npt.NDArray[np.integer]) -> int:
        """Remove ids; unknown ids are ignored, so removing twice is harmless.

        Returns:
            How many live ids were removed. None of them is returned by any search that
            starts after this call returns.
        """
        if isinstance(ids, np.ndarray):
            items = ids.ravel().astype(np.int64).tolist()
        else:
            items = [int(item) for item in ids]
        with self._lock.writing():
            removed = self._store().remove(items)
            self.generation += 1
            if self._building and removed:
                self._missed.append((np.asarray(items, dtype=np.int64), None))
            if self._graph is not None and len(self._graph) < self.config.exact_below // 2:
                self._to_exact()
            return removed

    def vectors(self) -> tuple[IdArray, npt.NDArray[np.float32]]:
        """Return every live id and its stored vector (normalised, for cosine): a copy."""
        with self._lock.reading():
            return self._store().vectors()

    def set_ef_search(self, ef_search: int) -> None:
        """Change the graph's search breadth (recall against latency) for later searches."""
        if ef_search < 1:
            raise VectorIndexError(f"ef_search must be at least 1, got {ef_search}")
        with self._lock.writing():
            self.config = replace(self.config, ef_search=ef_search)
            if self._graph is not None:
                self._graph.config = self.config
                self._graph.graph.set_ef(ef_search)

    # ------------------------------------------------------------------ internals

    def _store(self) -> _Exact | _Graph:
        store = self._exact if self._exact is not None else self._graph
        assert store is not None
        return store

    def _build_graph(self, ids: IdArray, vectors: npt.NDArray[np.float32]) -> None:
        """Build the graph from a snapshot without the lock, then replay and switch.

        Searches stay exact (and complete) during the build, and writes from other
        threads go on: they change the exact store and are recorded in ``_missed``.
        """
        try:
            graph = _Graph(self.config, len(ids) + self.config.initial_capacity)
            graph.upsert(ids, vectors)  # private until the switch: no lock needed
            with self._lock.writing():
                assert self._exact is not None
                for missed_ids, missed_vectors in self._missed:
                    if missed_vectors is None:
                        graph.remove(missed_ids.tolist())
                    else:
                        graph.upsert(missed_ids, missed_vectors)
                if len(self._exact) >= self.config.exact_below:
                    graph.config = self.config  # ef_search may have changed meanwhile
                    graph.graph.set_ef(self.config.ef_search)
                    self._graph, self._exact = graph, None
        finally:
            with self._lock.writing():
                self._building = False
                self._missed.clear()

    def _to_exact(self) -> None:
        assert self._graph is not None
        ids, vectors = self._graph.vectors()
        exact = _Exact(self.config.dim, len(ids))
        exact.upsert(ids, vectors)
        self._exact, self._graph = exact, None

    def _prepare_query(self, query: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Return the query as a contiguous float32 vector [dim], normalised for cosine.

        The hot path: one dot product checks finiteness and gives the norm.
        """
        try:
            vector = np.ascontiguousarray(query, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise VectorIndexError(f"not a numeric vector: {error}") from error
        if vector.shape != (self.config.dim,):
            raise VectorIndexError(
                f"query must have shape [{self.config.dim}], got {list(vector.shape)}"
            )
        squared = float(vector @ vector)
        if not math.isfinite(squared):
            if not np.isfinite(vector).all():
                raise VectorIndexError("query must be finite (no NaN or inf)")
            squared = float(np.square(vector, dtype=np.float64).sum())  # f32 overflow only
        if self.config.metric == "cosine" and squared > 0.0:
            vector = vector * np.float32(1.0 / math.sqrt(squared))
        return vector

    def _prepare(self, values: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Return a C-contiguous float32 matrix [k, dim], normalised for cosine."""
        try:
            matrix = np.asarray(values, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise VectorIndexError(f"not a numeric vector: {error}") from error
        if matrix.ndim != 2 or matrix.shape[1] != self.config.dim:
            if matrix.size == 0 and matrix.ndim <= 2:
                return np.zeros((0, self.config.dim), dtype=np.float32)
            raise VectorIndexError(
                f"vectors must have shape [k, {self.config.dim}], got {list(matrix.shape)}"
            )
        if not np.isfinite(matrix).all():
            raise VectorIndexError("vectors must be finite (no NaN or inf)")
        if self.config.metric == "cosine":
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            # A zero vector stays zero (scores 0 against everything) instead of NaN.
            matrix = matrix / np.maximum(norms, np.float32(1e-12))
        return np.ascontiguousarray(matrix, dtype=np.float32)
