"""Item-to-item co-visitation, updated per event.

Each event of weight ``w`` on item ``i`` is paired with the user's previous distinct items
in the window; the pair ``(h, i)`` gains ``w * window_decay**steps_back`` in both directions.
Small catalogues use a dense matrix (a user's score is a handful of row sums); large ones use
sparse rows (``SparseRows``) that keep their ``max_neighbors`` strongest entries, so memory and
read cost stay bounded.

A batch walks its events once in Python (windows are sequential per user) and collects the
pairs; the counts are then added in a few numpy calls, in event order, so the result is the
same however the log is split into batches.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from freshrec.config import CoVisitationConfig
from freshrec.models.base import EventBatch, FloatArray, IntArray, ScoringModel
from freshrec.models.sparse_rows import SparseRows

# Below these sizes a flush takes the scalar route (see ``_flush``).
_SMALL_BATCH = 8
_SMALL_PAIRS = 256


class _Pending:
    """Pairs and counts collected from a batch's events, not yet added to the matrix.

    ``history`` holds, for each pairing event, the user's window (oldest first) flattened;
    ``lengths``, ``targets`` and ``weights`` say which event each stretch belongs to.
    """

    __slots__ = ("history", "item_weights", "items", "lengths", "targets", "weights")

    def __init__(self) -> None:
        self.history: list[int] = []
        self.lengths: list[int] = []
        self.targets: list[int] = []
        self.weights: list[float] = []
        self.items: list[int] = []
        self.item_weights: list[float] = []

    def clear(self) -> None:
        self.history.clear()
        self.lengths.clear()
        self.targets.clear()
        self.weights.clear()
        self.items.clear()
        self.item_weights.clear()


class CoVisitation(ScoringModel):
    """Co-visitation counts with a per-user recent window; scores normalised by popularity."""

    name = "covisitation"

    def __init__(self, config: CoVisitationConfig) -> None:
        self.config = config
        # Counts only grow by positive weights; negative decays could make a score negative.
        self.nonnegative = config.window_decay >= 0 and config.recency_decay >= 0
        size = config.window_events
        steps = np.arange(size, 0, -1, dtype=np.float64) - 1
        # Weight of the k-th newest item in a window of full length, oldest first.
        self._recency_weights = config.recency_decay**steps
        self._recency32 = self._recency_weights.astype(np.float32)
        # Pair weight by steps back from the newest window item (0 = the newest).
        self._pair_decay = (config.window_decay**steps)[::-1].copy()
        # For a window of each length, the pair weights oldest first: decay ** steps back.
        decay = self._pair_decay.tolist()
        self._decay_patterns = [decay[:length][::-1] for length in range(size + 1)]
        self._reset()

    def _reset(self) -> None:
        self._dense: npt.NDArray[np.float32] | None = np.zeros((0, 0), dtype=np.float32)
        self._sparse: SparseRows | None = None
        self._counts = np.zeros(0, dtype=np.float64)
        # (count + 1) ** -popularity_exponent, kept per item as counts change, so scoring
        # multiplies instead of raising a whole catalogue to a power on every request.
        self._damping = np.ones(0, dtype=np.float64)
        self._windows: dict[int, deque[int]] = {}
        # Events with a positive weight so far: sparse rows are tidied at fixed multiples of
        # ``compact_every_events``, so when that happens does not depend on batching.
        self._events = 0

    @property
    def n_items(self) -> int:
        """Number of item slots the model holds."""
        return len(self._counts)

    def _grow(self, n_items: int) -> None:
        if n_items <= len(self._counts):
            return
        capacity = max(n_items, 2 * len(self._counts), 64)
        if self._dense is not None and n_items <= self.config.dense_max_items:
            capacity = min(capacity, self.config.dense_max_items)
        counts = np.zeros(capacity, dtype=np.float64)
        counts[: len(self._counts)] = self._counts
        damping = np.ones(capacity, dtype=np.float64)
        damping[: len(self._damping)] = self._damping
        self._counts, self._damping = counts, damping
        if self._dense is not None and capacity > self.config.dense_max_items:
            self._to_sparse()
        if self._dense is not None:
            dense = np.zeros((capacity, capacity), dtype=np.float32)
            old = self._dense.shape[0]
            dense[:old, :old] = self._dense
            self._dense = dense
        else:
            assert self._sparse is not None
            self._sparse.grow(capacity)

    def _to_sparse(self) -> None:
        assert self._dense is not None
        # Rows past the last counted item are empty: scan up to it (a view, no copy). Row-major
        # nonzero comes grouped by row, so the rows are built without sorting.
        counted = np.flatnonzero(self._counts[: self._dense.shape[0]] > 0)
        used = self._dense[: int(counted[-1]) + 1] if len(counted) else self._dense[:0]
        rows, cols = np.nonzero(used)
        values = used[rows, cols].astype(np.float64)
        sparse = SparseRows.from_sorted(self._dense.shape[0], rows, cols, values)
        sparse.prune(self.config.max_neighbors)
        self._sparse, self._dense = sparse, None

    def make_room(self, events: int) -> None:
        """Grow the pair arena now for about ``events`` more events (before the write lock).

        Each event pairs with up to ``window_events`` items, both ways, and a row that
        outgrows its segment moves to one twice its size: 8 entries per pair covers both.
        """
        if self._sparse is not None:
            self._sparse.reserve(events * self.config.window_events * 8)

    def fit(self, events: EventBatch) -> None:
        """Rebuild counts from scratch."""
        self._reset()
        self.partial_fit(events)

    def partial_fit(self, events: EventBatch) -> None:
        """Add each event's pairs with the user's window, then extend the window."""
        size, every = self.config.window_events, self.config.compact_every_events
        windows = self._windows
        pending = _Pending()
        history, lengths, targets, weights = (
            pending.history,
            pending.lengths,
            pending.targets,
            pending.weights,
        )
        items, item_weights = pending.items, pending.item_weights
        n_items = len(self._counts)
        for uidx, iidx, weight in zip(
            events.uidx.tolist(), events.iidx.tolist(), events.weight.tolist(), strict=True
        ):
            if weight <= 0:
                continue
            if iidx >= n_items:
                # Grown per event, not per batch, so the dense-to-sparse switch happens at the
                # same event however the log is batched (fit(a + b) == fit(a), partial_fit(b)).
                self._flush(pending)
                self._grow(iidx + 1)
                n_items = len(self._counts)
            window = windows.get(uidx)
            if window is None:
                window = windows[uidx] = deque(maxlen=size)
            items.append(iidx)
            item_weights.append(weight)
            if iidx in window:
                # A repeat (view, then click, then cart of one item) moves the item to the
                # front of the window but pairs nothing again: the pairs were counted when it
                # entered, and pairing an item with itself says nothing.
                window.remove(iidx)
            elif window:
                history.extend(window)
                lengths.append(len(window))
                targets.append(iidx)
                weights.append(weight)
            window.append(iidx)
            self._events += 1
            if self._events % every == 0 and self._sparse is not None:
                self._flush(pending)
                keep = self.config.max_neighbors
                self._sparse.compact(keep, min_entries=min(16, keep + 1))
        self._flush(pending)

    def _flush(self, pending: _Pending) -> None:
        """Add the collected counts and pairs, in event order, and forget them."""
        items = pending.items
        if len(items) <= _SMALL_BATCH:
            # A few events (a replay asks after every one or two): scalar updates beat the
            # fixed cost of a dozen numpy calls.
            counts, damping, exponent = (
                self._counts,
                self._damping,
                -self.config.popularity_exponent,
            )
            for iidx, weight in zip(items, pending.item_weights, strict=True):
                count = counts[iidx] = counts[iidx] + weight
                damping[iidx] = (count + 1.0) ** exponent
        else:
            self._add_counts(pending)
        if pending.lengths:
            if self._dense is not None and len(pending.history) <= _SMALL_PAIRS:
                self._add_pairs_small(pending)
            else:
                self._add_pairs(pending)
        pending.clear()

    def _add_counts(self, pending: _Pending) -> None:
        np.add.at(self._counts, np.array(pending.items), np.array(pending.item_weights))
        exponent = -self.config.popularity_exponent
        touched = list(dict.fromkeys(pending.items))
        # Python's pow, not numpy's: its vectorised power differs in the last bit from the
        # scalar one, and these factors must not depend on how the log was batched.
        self._damping[touched] = [
            (count + 1.0) ** exponent for count in self._counts[touched].tolist()
        ]

    def _add_pairs_small(self, pending: _Pending) -> None:
        """The dense update for a few pairs: flat indices built in Python, one ``add.at``."""
        assert self._dense is not None
        width = self._dense.shape[1]
        patterns, history = self._decay_patterns, pending.history
        codes: list[int] = []
        values: list[float] = []
        start = 0
        for target, weight, length in zip(
            pending.targets, pending.weights, pending.lengths, strict=True
        ):
            window = history[start : start + length]
            start += length
            # Each event's cells are distinct (its window holds distinct items, never the
            # target), so both directions may go as two blocks: a cell still receives its
            # additions in event order.
            row = target * width
            codes += [h * width + target for h in window]
            codes += [row + h for h in window]
            pair = [weight * decay for decay in patterns[length]]
            values += pair
            values += pair
        # Arrays made here, not by add.at: its own conversion of a list is three times slower.
        flat = self._dense.reshape(-1)
        np.add.at(flat, np.array(codes, dtype=np.int64), np.array(values, dtype=np.float32))

    def _add_pairs(self, pending: _Pending) -> None:
        lengths = np.array(pending.lengths, dtype=np.int64)
        history = np.array(pending.history, dtype=np.int64)
        targets = np.repeat(np.array(pending.targets, dtype=np.int64), lengths)
        steps_back = np.repeat(np.cumsum(lengths), lengths) - 1 - np.arange(len(history))
        weight = np.repeat(np.array(pending.weights), lengths) * self._pair_decay[steps_back]
        # Both directions of each pair, interleaved: (h, i), (i, h), (h', i), ... so each cell
        # receives its additions in event order, as a per-pair loop would add them.
        rows = np.empty(2 * len(history), dtype=np.int64)
        rows[0::2], rows[1::2] = history, targets
        cols = np.empty_like(rows)
        cols[0::2], cols[1::2] = targets, history
        if self._dense is not None:
            # np.add.at adds one element after another (repeats included, unlike ``+=`` on a
            # fancy index), in float32 like the matrix.
            width = self._dense.shape[1]
            np.add.at(
                self._dense.reshape(-1), rows * width + cols, weight.astype(np.float32).repeat(2)
            )
        else:
            assert self._sparse is not None
            self._sparse.add(rows, cols, weight.repeat(2))

    def _rows_sum(self, items: list[int], weights: FloatArray, n_items: int) -> FloatArray:
        m = min(n_items, len(self._counts))
        if self._dense is not None and m == n_items:
            # take + a float32 dot is twice as fast as fancy-indexing and upcasting the block;
            # float32 times float64 upcasts first, the same as astype and then multiply.
            block = self._dense.take(items, axis=0)
            summed = np.dot(weights.astype(np.float32), block)
            return np.multiply(summed[:m], self._damping[:m])
        out = np.zeros(n_items, dtype=np.float64)
        if self._dense is not None:
            out[:m] = weights @ self._dense[items, :m]
            return self._normalise(out)
        assert self._sparse is not None
        rows = np.asarray(items, dtype=np.int64)
        return self._normalise(self._sparse.weighted_sum(rows, weights, n_items))

    def _normalise(self, scores: FloatArray) -> FloatArray:
        m = min(len(scores), len(self._counts))
        scores[:m] *= self._damping[:m]
        return scores

    def window(self, uidx: int) -> list[int]:
        """Return the user's recent window, oldest first."""
        return list(self._windows.get(uidx, ()))

    def score_user(self, uidx: int, n_items: int) -> FloatArray | None:
        """Sum the window's rows, newer items weighted up; None for users with no window."""
        window = self._windows.get(uidx)
        if not window:
            return None
        items = list(window)
        if self._dense is not None and n_items <= len(self._counts):
            # The common case inline: take + a float32 dot beats fancy-indexing and
            # upcasting the block; float32 times float64 upcasts first (same as astype).
            summed = np.dot(self._recency32[-len(items) :], self._dense.take(items, axis=0))
            return np.multiply(summed[:n_items], self._damping[:n_items])
        return self._rows_sum(items, self._recency_weights[-len(items) :], n_items)

    def neighbours(self, uidx: int) -> tuple[IntArray, FloatArray] | None:
        """``score_user`` as (items ascending, their scores) over its nonzero items only.

        What candidate retrieval reads: the cost is the window's row entries, not the
        catalogue. None for users with no window.
        """
        window = self._windows.get(uidx)
        if not window:
            return None
        items = list(window)
        weights = self._recency_weights[-len(items) :]
        if self._sparse is not None:
            cols, sums = self._sparse.weighted_sum_sparse(np.asarray(items, np.int64), weights)
        else:
            dense = self._rows_sum(items, weights, len(self._counts))
            cols = np.flatnonzero(dense)
            return cols, dense[cols]
        values = np.multiply(sums, self._damping[cols])
        keep = values > 0
        return (cols, values) if keep.all() else (cols[keep], values[keep])

    def score_item(self, iidx: int, n_items: int) -> FloatArray | None:
        """Return the item's co-visitation row, normalised; None for unknown items."""
        if iidx >= len(self._counts) or self._counts[iidx] == 0:
            return None
        return self._rows_sum([iidx], np.ones(1), n_items)

    def strongest_links(self, items: list[int], targets: list[int]) -> list[int | None]:
        """Return, per target, which of ``items`` co-occurs most with it (for explanations)."""
        if not items or not targets:
            return [None] * len(targets)
        block: npt.NDArray[np.floating]
        if self._dense is not None:
            block = self._dense[np.ix_(items, targets)]
        else:
            assert self._sparse is not None
            block = self._sparse.values_at(items, targets)
        best = block.argmax(axis=0)
        return [items[b] if block[b, col] > 0 else None for col, b in enumerate(best.tolist())]
