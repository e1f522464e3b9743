"""An ANN index over rows of a matrix that changes a few rows at a time (item factors).

The matrix's owner calls :meth:`LiveIndex.changed` with the rows it rewrote (cheap: a set
update under a small lock); a daemon thread then upserts those rows' *current* vectors, read
through ``vectors_of``, into the :class:`~freshrec.retrieval.ann.VectorIndex`. Searches may
therefore lag a write by the worker's delay (milliseconds; longer after a bulk change).
That is what candidate retrieval can afford: the index only nominates items, and the
nominees are then scored from the live matrix, so a lagging index can miss a new item for a
moment but never ranks anything with a stale score.

A row whose vector moved by less than ``tolerance`` (relative to its indexed vector) is not
written again: the index only nominates, and rewriting tens of thousands of nearly identical
vectors after every retrain (content placements are recomputed each time) would keep a core
busy for seconds. A whole new matrix (a retrain from scratch) is indexed with
:func:`build_index` off the engine's lock and swapped in with :meth:`LiveIndex.replace`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from freshrec.retrieval.ann import VectorIndex, VectorIndexConfig
from freshrec.threads import lower_priority

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
VectorsOf = Callable[[IntArray], npt.NDArray[np.floating]]


def build_index(
    config: VectorIndexConfig, ids: npt.ArrayLike, vectors: npt.ArrayLike
) -> VectorIndex:
    """Return a new index holding ``vectors`` under ``ids`` (blocking: seconds at 100k rows)."""
    index = VectorIndex(config)
    index.upsert(ids, vectors)
    return index


class LiveIndex:
    """A :class:`VectorIndex` that follows a changing matrix, updated on a worker thread.

    Args:
        index: the index to serve from (see :func:`build_index`).
        vectors_of: returns the current vectors of the given rows (sorted ascending), shape
            [k, dim] for the first k of them that the matrix holds (a retrain may have
            installed a shorter matrix); called from the worker thread without the owner's
            lock: a row being rewritten meanwhile is read torn at worst, and is queued again
            by that very write.
        background: False applies changes inline in ``changed`` (deterministic; tests and
            replays).
    """

    def __init__(
        self,
        index: VectorIndex,
        vectors_of: VectorsOf,
        background: bool = True,
        tolerance: float = 0.05,
        indexed: IndexedVectors | None = None,
    ) -> None:
        self._index = index
        self._vectors_of = vectors_of
        self._background = background
        self.tolerance = tolerance
        self._indexed = indexed if indexed is not None else IndexedVectors.of(index)
        self._dirty: set[int] = set()
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._closed = False
        self._idle = True

    @property
    def index(self) -> VectorIndex:
        """The index searches go to now."""
        return self._index

    def search(self, query: npt.ArrayLike, n: int) -> IntArray:
        """Return the ids of the ``n`` rows scoring highest against ``query``, best first."""
        ids, _ = self._index.search(query, n)
        return ids

    def replace(
        self, index: VectorIndex, vectors_of: VectorsOf, indexed: IndexedVectors | None = None
    ) -> None:
        """Serve from a freshly built index (a retrain); rows queued before are re-read.

        ``indexed`` is ``IndexedVectors.of(index)``, made beforehand: reading 100k vectors
        back out of hnswlib takes ~250 ms, which a caller holding a lock should not spend.
        """
        if indexed is None:
            indexed = IndexedVectors.of(index)
        with self._cond:
            self._index, self._vectors_of, self._indexed = index, vectors_of, indexed

    def drift(self, rows: IntArray, vectors: npt.NDArray[np.floating]) -> float:
        """Share of ``rows`` whose ``vectors`` the index would have to rewrite (0 to 1).

        A retrain asks this of its new factors: past a share of rows, a new index is
        cheaper than rewriting them in place (``RetrievalConfig``).
        Read without the worker's lock (an estimate; a row written meanwhile is torn at
        worst).
        """
        if not len(rows):
            return 0.0
        return float(self._indexed.moved(rows, vectors, self.tolerance).mean())

    def changed(self, rows: Iterable[int]) -> None:
        """Queue rows whose vectors were rewritten; the index follows shortly."""
        if not self._background:
            self._apply(np.fromiter(rows, dtype=np.int64))
            return
        with self._cond:
            if self._closed:
                return
            self._dirty.update(rows)
            if not self._dirty:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="freshrec-factor-index", daemon=True
                )
                self._thread.start()
            self._idle = False
            self._cond.notify()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every queued row is in the index; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._idle or self._closed, timeout)

    def close(self) -> None:
        """Stop the worker (queued rows are dropped: the index is rebuilt at start-up)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        lower_priority()  # answers first when a core is contended
        while True:
            with self._cond:
                while not self._dirty and not self._closed:
                    self._idle = True
                    self._cond.notify_all()
                    self._cond.wait()
                if self._closed:
                    return
                rows = np.fromiter(self._dirty, dtype=np.int64, count=len(self._dirty))
                self._dirty.clear()
            try:
                self._apply(rows)
            except Exception:  # a worker that dies silently would freeze the index
                log.exception("factor index update failed; those rows wait for the next retrain")

    def _apply(self, rows: IntArray) -> None:
        if not len(rows):
            return
        with self._cond:
            index, vectors_of, indexed = self._index, self._vectors_of, self._indexed
        rows = np.sort(rows)
        vectors = np.asarray(vectors_of(rows), dtype=np.float32)
        rows = rows[: len(vectors)]
        # A zero row (an item without factors) would only ever score 0: keep it out.
        present = np.einsum("ij,ij->i", vectors, vectors) > 0
        moved = present & indexed.moved(rows, vectors, self.tolerance)
        gone = rows[~present & indexed.holds(rows)]
        if moved.any():
            index.upsert(rows[moved], vectors[moved])
            indexed.put(rows[moved], vectors[moved])
        if len(gone):
            index.remove(gone)
            indexed.drop(gone)


class IndexedVectors:
    """The vectors an index holds, by row: what a changed row is compared against."""

    def __init__(self, vectors: npt.NDArray[np.float32], held: npt.NDArray[np.bool_]) -> None:
        self.vectors = vectors
        self.held = held

    @classmethod
    def of(cls, index: VectorIndex) -> IndexedVectors:
        """A copy of what ``index`` holds (slow: every vector is read back)."""
        return cls.from_rows(*index.vectors())

    @classmethod
    def from_rows(cls, ids: IntArray, vectors: npt.NDArray[np.floating]) -> IndexedVectors:
        """What an index built from these rows holds (an inner-product one stores them as is)."""
        ids = np.asarray(ids, dtype=np.int64)
        size = int(ids.max()) + 1 if len(ids) else 0
        matrix = np.zeros((size, vectors.shape[1] if vectors.ndim == 2 else 0), np.float32)
        held = np.zeros(size, dtype=np.bool_)
        matrix[ids], held[ids] = vectors, True
        return cls(matrix, held)

    def holds(self, rows: IntArray) -> npt.NDArray[np.bool_]:
        """Per row: whether the index holds it."""
        return _held(self.held, rows)

    def moved(
        self, rows: IntArray, vectors: npt.NDArray[np.floating], tolerance: float
    ) -> npt.NDArray[np.bool_]:
        """Per row: not held, or its vector moved by more than ``tolerance`` (relative)."""
        # ``held`` before ``vectors``: ``put`` grows them in the other order, so the matrix
        # read here always covers the rows the mask says are held.
        held = self.held
        matrix = self.vectors
        out = ~_held(held, rows)
        known = np.flatnonzero(~out)
        if len(known):
            old = matrix[rows[known]]
            change = np.linalg.norm(vectors[known] - old, axis=1)
            out[known] = change > tolerance * np.linalg.norm(old, axis=1)
        return out

    def put(self, rows: IntArray, vectors: npt.NDArray[np.float32]) -> None:
        """Record rows just written to the index (growing the copy when needed)."""
        needed = int(rows.max()) + 1
        if needed > len(self.held) or vectors.shape[1] != self.vectors.shape[1]:
            size = max(needed, 2 * len(self.held))
            matrix = np.zeros((size, vectors.shape[1]), np.float32)
            held = np.zeros(size, dtype=np.bool_)
            if self.vectors.shape[1] == vectors.shape[1]:  # not an index that started empty
                matrix[: len(self.held)], held[: len(self.held)] = self.vectors, self.held
            self.vectors = matrix  # before ``held``: see ``moved``
            self.held = held
        self.vectors[rows] = vectors
        self.held[rows] = True

    def drop(self, rows: IntArray) -> None:
        """Record rows just removed from the index."""
        self.held[rows[rows < len(self.held)]] = False


def _held(held: npt.NDArray[np.bool_], rows: IntArray) -> npt.NDArray[np.bool_]:
    inside = rows < len(held)
    out = np.zeros(len(rows), dtype=np.bool_)
    out[inside] = held[rows[inside]]
    return out
