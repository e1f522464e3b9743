"""Sparse rows of ``(column, value)`` entries in one growable arena, updated a batch at a time.

Built for co-visitation above the dense size: a batch of events brings tens of thousands of
``(row, column, weight)`` additions, and a dict per row pays one Python operation for each.
Here an addition is *appended* to its row without looking for the column (rows may hold the
same column several times; every read sums them), so a batch costs a handful of numpy calls.
``compact`` later sums each row's duplicates and keeps its strongest columns; it runs on rows
whose entry count doubled since their last compaction, so its cost stays proportional to what
was appended.

>>> rows = SparseRows()
>>> rows.grow(3)
>>> rows.add(np.array([0, 0, 2, 0]), np.array([1, 2, 0, 1]), np.array([1.0, 2.0, 5.0, 0.5]))
>>> rows.weighted_sum(np.array([0]), np.array([1.0]), 3).tolist()
[0.0, 1.5, 2.0]
>>> rows.compact(max_keep=1, min_entries=0)
>>> rows.row(0)
([2], [2.0])
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Rows start with room for this many entries and double from there.
_MIN_CAPACITY = 8


def run_starts(sorted_keys: npt.NDArray[np.integer]) -> IntArray:
    """Positions where a run of equal values begins in ``sorted_keys`` (non-empty).

    ``np.flatnonzero(np.diff(keys, prepend=-1))`` without ``diff``'s broadcasting of the
    prepended value: on the small arrays of one batch that wrapper was most of the cost.

    >>> run_starts(np.array([2, 2, 5, 7, 7, 7])).tolist()
    [0, 2, 3]
    """
    change = np.empty(len(sorted_keys), dtype=np.bool_)
    change[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=change[1:])
    return np.flatnonzero(change)


def run_lengths(starts: IntArray, size: int) -> IntArray:
    """Lengths of the runs that begin at ``starts`` in an array of ``size`` (non-empty).

    >>> run_lengths(np.array([0, 2, 3]), 6).tolist()
    [2, 1, 3]
    """
    lengths = np.empty(len(starts), dtype=np.int64)
    np.subtract(starts[1:], starts[:-1], out=lengths[:-1])
    lengths[-1] = size - starts[-1]
    return lengths


def ranges(starts: IntArray, lengths: IntArray) -> IntArray:
    """Concatenate ``arange(s, s + n)`` for each ``(s, n)``, without a Python loop.

    >>> ranges(np.array([10, 3]), np.array([2, 3])).tolist()
    [10, 11, 3, 4, 5]
    """
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    # Each position is its run's start plus its offset inside the run.
    shift = starts - (np.cumsum(lengths) - lengths)
    return np.repeat(shift, lengths) + np.arange(total, dtype=np.int64)


class SparseRows:
    """Rows indexed ``0 .. n_rows - 1``; each a segment ``[start, start + length)`` of the arena.

    Invariants: a row's entries keep the order they were added in until a compaction, which
    leaves them sorted by column with no duplicates. The same sequence of ``add`` and
    ``compact`` calls gives the same entries in the same order however the additions were
    split into calls, so reads are exactly reproducible across batchings.
    """

    def __init__(self) -> None:
        self._cols = np.zeros(1024, dtype=np.int32)
        self._vals = np.zeros(1024, dtype=np.float64)
        self._used = 0  # arena end
        self._garbage = 0  # arena slots left behind by rows that moved
        self._start = np.zeros(0, dtype=np.int64)
        self._length = np.zeros(0, dtype=np.int64)
        self._capacity = np.zeros(0, dtype=np.int64)
        self._distinct = np.zeros(0, dtype=np.int64)  # entries after the last compaction

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self._start)

    @property
    def n_entries(self) -> int:
        """Entries held, duplicates included."""
        return int(self._length.sum())

    def grow(self, n_rows: int) -> None:
        """Make rows ``0 .. n_rows - 1`` exist (new rows are empty)."""
        extra = n_rows - len(self._start)
        if extra <= 0:
            return
        zeros = np.zeros(extra, dtype=np.int64)
        self._start = np.concatenate([self._start, zeros])
        self._length = np.concatenate([self._length, zeros])
        self._capacity = np.concatenate([self._capacity, zeros])
        self._distinct = np.concatenate([self._distinct, zeros])

    @classmethod
    def from_sorted(
        cls, n_rows: int, rows: IntArray, cols: IntArray, vals: FloatArray
    ) -> SparseRows:
        """Build rows from entries already grouped by row (``rows`` non-decreasing).

        The same rows as ``grow(n_rows)`` then ``add(rows, cols, vals)``, without the sort.
        """
        table = cls()
        table.grow(n_rows)
        lengths = np.bincount(rows, minlength=n_rows).astype(np.int64)
        capacity = np.where(
            lengths > 0,
            np.maximum(
                _MIN_CAPACITY, 1 << np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
            ),
            0,
        )
        start = np.cumsum(capacity) - capacity
        table._reserve(int(capacity.sum()))
        slots = ranges(start, lengths)
        table._cols[slots] = cols
        table._vals[slots] = vals
        table._start, table._length, table._capacity = start, lengths, capacity
        table._used = int(capacity.sum())
        return table

    def add(self, rows: IntArray, cols: IntArray, vals: FloatArray) -> None:
        """Append ``vals[k]`` at ``(rows[k], cols[k])`` for every ``k``, in order.

        Rows must exist (``grow``); columns must be below 2**31.
        """
        size = len(rows)
        if size == 0:
            return
        # Group by row, keeping the call's order inside each row: sorting the unique keys
        # ``row << 32 | position`` is several times faster than a stable argsort.
        keys = (np.asarray(rows, dtype=np.int64) << 32) | np.arange(size, dtype=np.int64)
        keys.sort()
        order = keys & 0xFFFFFFFF
        sorted_rows = keys >> 32
        first = run_starts(sorted_rows)
        row_ids = sorted_rows[first]
        counts = run_lengths(first, size)
        need = self._length[row_ids] + counts
        short = need > self._capacity[row_ids]
        if short.any():
            self._relocate(row_ids[short], need[short])
        rank = np.arange(size, dtype=np.int64) - np.repeat(first, counts)
        slots = np.repeat(self._start[row_ids] + self._length[row_ids], counts) + rank
        self._cols[slots] = np.asarray(cols)[order]
        self._vals[slots] = np.asarray(vals)[order]
        self._length[row_ids] = need

    def _relocate(self, row_ids: IntArray, need: IntArray) -> None:
        """Move rows to fresh segments at the arena end with room for ``need`` entries."""
        capacity = np.maximum(_MIN_CAPACITY, 1 << np.ceil(np.log2(need)).astype(np.int64))
        total = int(capacity.sum())
        if self._used + total > len(self._cols):
            if self._garbage > self._used // 2:
                self._defragment()
            self._reserve(self._used + total)
        lengths = self._length[row_ids]
        new_start = self._used + np.cumsum(capacity) - capacity
        source = ranges(self._start[row_ids], lengths)
        target = ranges(new_start, lengths)
        self._cols[target] = self._cols[source]
        self._vals[target] = self._vals[source]
        self._garbage += int(self._capacity[row_ids].sum())
        self._start[row_ids] = new_start
        self._capacity[row_ids] = capacity
        self._used += total

    def reserve(self, entries: int) -> None:
        """Room for ``entries`` more entries at the arena's end, made now if it must grow.

        Growing copies the arena (224 ms at ~10M entries); the engine's writer calls this
        before it takes the write lock, so answers do not wait for the copy. Readers keep
        reading the old arrays until the swap (the copy holds the same entries).
        """
        self._reserve(self._used + entries)

    def _reserve(self, size: int) -> None:
        if size <= len(self._cols):
            return
        new_size = max(size, 2 * len(self._cols))
        cols = np.zeros(new_size, dtype=np.int32)
        vals = np.zeros(new_size, dtype=np.float64)
        cols[: self._used] = self._cols[: self._used]
        vals[: self._used] = self._vals[: self._used]
        self._cols, self._vals = cols, vals

    def _defragment(self) -> None:
        """Pack every row's segment (capacity included) to the front of the arena."""
        new_start = np.cumsum(self._capacity) - self._capacity
        source = ranges(self._start, self._length)
        target = ranges(new_start, self._length)
        cols = np.zeros(len(self._cols), dtype=np.int32)
        vals = np.zeros(len(self._vals), dtype=np.float64)
        cols[target] = self._cols[source]
        vals[target] = self._vals[source]
        self._cols, self._vals = cols, vals
        self._start = new_start
        self._used = int(self._capacity.sum())
        self._garbage = 0

    def compact(self, max_keep: int, min_entries: int = 16) -> None:
        """Sum duplicates in rows that doubled since their last compaction; prune them.

        A compacted row holds each column once, sorted by column; if more than ``max_keep``
        remain, only the ``max_keep`` largest values stay (ties: lower column first). Rows
        with fewer than ``min_entries`` entries are left alone.
        """
        due = np.flatnonzero(
            (self._length >= 2 * self._distinct)
            & (self._length >= max(min_entries, 1))
            & (self._length > self._distinct)
        )
        if len(due):
            self._compact_rows(due, max_keep)

    def prune(self, max_keep: int) -> None:
        """Compact every row that holds more than ``max_keep`` entries."""
        due = np.flatnonzero(self._length > max_keep)
        if len(due):
            self._compact_rows(due, max_keep)

    def _compact_rows(self, due: IntArray, max_keep: int) -> None:
        lengths = self._length[due]
        slots = ranges(self._start[due], lengths)
        local = np.repeat(np.arange(len(due), dtype=np.int64), lengths)
        cols = self._cols[slots].astype(np.int64)
        width = int(cols.max()) + 1
        keys = local * width + cols
        # Any deterministic order works: the input is the same whatever the batching was.
        order = np.argsort(keys)
        keys = keys[order]
        first = run_starts(keys)
        sums = np.add.reduceat(self._vals[slots][order], first)
        owner = keys[first] // width
        kept_cols = keys[first] % width
        distinct = np.bincount(owner, minlength=len(due))
        if (distinct > max_keep).any():
            keep = self._strongest(owner, kept_cols, sums, distinct, max_keep)
            owner, kept_cols, sums = owner[keep], kept_cols[keep], sums[keep]
            distinct = np.bincount(owner, minlength=len(due))
        target = ranges(self._start[due], distinct)
        self._cols[target] = kept_cols
        self._vals[target] = sums
        self._length[due] = distinct
        self._distinct[due] = distinct

    @staticmethod
    def _strongest(
        owner: IntArray, cols: IntArray, sums: FloatArray, distinct: IntArray, max_keep: int
    ) -> npt.NDArray[np.bool_]:
        """Mask of entries to keep: all of small rows, the ``max_keep`` largest of big ones."""
        keep = np.ones(len(owner), dtype=np.bool_)
        big = distinct[owner] > max_keep
        index = np.flatnonzero(big)
        # Entries arrive sorted by (owner, column) and lexsort is stable: among equal values
        # the lower column stays first without being a key.
        by_strength = index[np.lexsort((-sums[index], owner[index]))]
        group = owner[by_strength]
        first = run_starts(group)
        rank = np.arange(len(group)) - np.repeat(first, run_lengths(first, len(group)))
        keep[by_strength[rank >= max_keep]] = False
        return keep

    def row(self, idx: int) -> tuple[list[int], list[float]]:
        """Return a row's columns and values as stored (duplicates possible before compaction)."""
        start, length = int(self._start[idx]), int(self._length[idx])
        return (
            self._cols[start : start + length].tolist(),
            self._vals[start : start + length].tolist(),
        )

    def weighted_sum(self, rows: IntArray, weights: FloatArray, n_cols: int) -> FloatArray:
        """Return ``sum_k weights[k] * row(rows[k])`` as a dense vector, shape [n_cols].

        Columns at or above ``n_cols`` are dropped.
        """
        lengths = self._length[rows]
        slots = ranges(self._start[rows], lengths)
        cols = self._cols[slots]
        vals = self._vals[slots] * np.repeat(weights, lengths)
        summed = np.bincount(cols, vals, minlength=n_cols).astype(np.float64, copy=False)
        return summed[:n_cols] if len(summed) > n_cols else summed

    def weighted_sum_sparse(
        self, rows: IntArray, weights: FloatArray
    ) -> tuple[IntArray, FloatArray]:
        """``weighted_sum`` without the dense vector: (columns ascending, their sums).

        Costs the rows' entries (a few thousand), not the width of the matrix.
        """
        lengths = self._length[rows]
        slots = ranges(self._start[rows], lengths)
        entries = self._cols[slots]
        # One sort, then a sum per run of equal columns (``np.unique`` would sort twice).
        # Stable (timsort) merges the rows' runs, already sorted after a compaction: about
        # half the default quicksort's time on a few thousand entries.
        order = entries.argsort(kind="stable")
        cols = entries[order]
        vals = (self._vals[slots] * np.repeat(weights, lengths))[order]
        if not len(cols):
            return cols.astype(np.int64), vals.astype(np.float64)
        starts = run_starts(cols)
        sums: FloatArray = np.add.reduceat(vals, starts).astype(np.float64, copy=False)
        return cols[starts].astype(np.int64, copy=False), sums

    def values_at(self, rows: list[int], cols: list[int]) -> FloatArray:
        """Return the block ``[row, col]`` of summed values, shape [len(rows), len(cols)].

        One pass over the rows' entries, nothing as wide as the matrix: explanations ask
        this for a user's window against the ten items of an answer.
        """
        if not cols or not rows:
            return np.zeros((len(rows), len(cols)), dtype=np.float64)
        targets, inverse = np.unique(np.asarray(cols, dtype=np.int64), return_inverse=True)
        row_ids = np.asarray(rows, dtype=np.int64)
        lengths = self._length[row_ids]
        slots = ranges(self._start[row_ids], lengths)
        entries = self._cols[slots]
        where = np.minimum(np.searchsorted(targets, entries), len(targets) - 1)
        hit = targets[where] == entries
        owner = np.repeat(np.arange(len(rows)), lengths)
        summed = np.zeros((len(rows), len(targets)), dtype=np.float64)
        np.add.at(summed, (owner[hit], where[hit]), self._vals[slots][hit])
        block: FloatArray = summed[:, inverse]
        return block
