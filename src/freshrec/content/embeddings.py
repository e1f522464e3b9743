"""Item vectors of one embedding space, indexed by ``iidx``, with what each was computed from.

A row remembers the content hash of the text it encodes, so an item is re-encoded only when
its text changes, and the table remembers the encoder's name and version, so a table written
by another model is not mixed with this one's vectors: it is dropped and re-encoded.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from freshrec.errors import StoreError

FloatMatrix = npt.NDArray[np.float32]


class EmbeddingTable:
    """Rows of shape [dim] float32 per item index; absent rows are zero.

    Values are rounded to float16 precision when stored, so the table saves as float16 (half
    the bytes) and reloads bit-identical: answers after a restart equal those before it.
    Thread-safe: writers take a lock; readers get arrays that a later growth never mutates
    in place (growing allocates a new array).
    """

    def __init__(self, name: str, version: str, dim: int) -> None:
        self.name = name
        self.version = version
        self.dim = dim
        self._lock = threading.Lock()
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._present = np.zeros(0, dtype=np.bool_)
        self._hashes: dict[int, str] = {}
        # Bumped by every write: a saver compares it with the value it last saved.
        self.changes = 0

    @property
    def matrix(self) -> FloatMatrix:
        """All rows, shape [n_rows, dim]; zero where ``present`` is False."""
        return self._vectors

    @property
    def present(self) -> npt.NDArray[np.bool_]:
        """Mask of rows that hold a vector, shape [n_rows]."""
        return self._present

    def __len__(self) -> int:
        return int(self._present.sum())

    def hash_of(self, iidx: int) -> str | None:
        """The content hash row ``iidx`` was computed from, or None when it has no vector."""
        return self._hashes.get(iidx)

    def vector(self, iidx: int) -> FloatMatrix | None:
        """Row ``iidx``, shape [dim], or None when absent."""
        if iidx >= len(self._present) or not self._present[iidx]:
            return None
        return self._vectors[iidx]

    def put(self, iidxs: Sequence[int], vectors: FloatMatrix, hashes: Sequence[str]) -> None:
        """Store ``vectors`` (shape [len(iidxs), dim]) for ``iidxs`` with their content hashes."""
        if vectors.shape != (len(iidxs), self.dim):
            raise ValueError(f"expected vectors of shape ({len(iidxs)}, {self.dim})")
        rows = np.asarray(iidxs, dtype=np.int64)
        with self._lock:
            self._grow(int(rows.max()) + 1 if len(rows) else 0)
            self._vectors[rows] = vectors.astype(np.float16).astype(np.float32)
            self._present[rows] = True
            for iidx, digest in zip(iidxs, hashes, strict=True):
                self._hashes[iidx] = digest
            self.changes += 1

    def reserve(self, n_rows: int) -> None:
        """Room for ``n_rows`` rows, made now (a copy of the table when it must grow).

        The engine calls this before it takes its write lock for an upsert: doubling a
        512-wide keyword table at 20k items copied 40 MB, ~100 ms in which no answer ran.
        Only the writer calls it (upserts are serialised); readers keep reading the old
        arrays until the swap, which holds the same rows.
        """
        self._grow(n_rows)

    def _grow(self, n_rows: int) -> None:
        if n_rows <= len(self._present):
            return
        size = max(n_rows, 2 * len(self._present), 64)
        vectors = np.zeros((size, self.dim), dtype=np.float32)
        vectors[: len(self._vectors)] = self._vectors
        present = np.zeros(size, dtype=np.bool_)
        present[: len(self._present)] = self._present
        self._vectors, self._present = vectors, present

    def to_bytes(self, id_of: Callable[[int], str]) -> bytes:
        """Serialise the present rows keyed by item id (indices are not stable across runs)."""
        with self._lock:
            rows = np.flatnonzero(self._present)
            buffer = io.BytesIO()
            np.savez(
                buffer,
                header=np.array([self.name, self.version, str(self.dim)]),
                item_ids=np.array([id_of(int(r)) for r in rows], dtype=object).astype(str),
                hashes=np.array([self._hashes[int(r)] for r in rows]).astype(str),
                vectors=self._vectors[rows].astype(np.float16),
            )
        return buffer.getvalue()

    def load(self, data: bytes, iidx_of: Callable[[str], int | None]) -> int:
        """Add the rows saved by ``to_bytes`` whose item is known; return how many.

        A table saved by another encoder name, version or dimension loads nothing (its
        vectors live in another space; the items get re-encoded instead).

        Raises:
            StoreError: ``data`` is not a saved table.
        """
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as saved:
                name, version, dim = (str(v) for v in saved["header"])
                if (name, version, dim) != (self.name, self.version, str(self.dim)):
                    return 0
                item_ids, hashes = saved["item_ids"].tolist(), saved["hashes"].tolist()
                vectors = saved["vectors"].astype(np.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"saved {self.name} embeddings are unreadable: {exc}") from exc
        keep = [
            (i, iidx)
            for i, item_id in enumerate(item_ids)
            if (iidx := iidx_of(item_id)) is not None
        ]
        if keep:
            positions = [i for i, _ in keep]
            self.put([iidx for _, iidx in keep], vectors[positions], [hashes[i] for i in positions])
        return len(keep)
