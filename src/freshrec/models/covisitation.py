"""Item-to-item co-visitation, updated per event.

Each event of weight ``w`` on item ``i`` is paired with the user's previous distinct items
in the window; the pair ``(h, i)`` gains ``w * window_decay**steps_back`` in both directions.
Small catalogues use a dense matrix (a user's score is a handful of row sums); large ones use
sparse rows capped at ``max_neighbors`` entries, pruned to the strongest, so memory and read
cost stay bounded.
"""

from __future__ import annotations

from collections import defaultdict, deque

import numpy as np
import numpy.typing as npt

from freshrec.config import CoVisitationConfig
from freshrec.models.base import EventBatch, FloatArray, ScoringModel


class CoVisitation(ScoringModel):
    """Co-visitation counts with a per-user recent window; scores normalised by popularity."""

    name = "covisitation"

    def __init__(self, config: CoVisitationConfig) -> None:
        self.config = config
        self._reset()

    def _reset(self) -> None:
        self._dense: npt.NDArray[np.float32] | None = np.zeros((0, 0), dtype=np.float32)
        self._rows: list[defaultdict[int, float]] = []
        # Sparse rows as arrays, built on first read and dropped when the row changes.
        self._row_cache: dict[int, tuple[npt.NDArray[np.int64], FloatArray]] = {}
        # Rows may overshoot max_neighbors by a quarter before a prune, so pruning is rare.
        self._prune_limit = int(1.25 * self.config.max_neighbors)
        self._counts = np.zeros(0, dtype=np.float64)
        # (count + 1) ** -popularity_exponent, kept per item as counts change, so scoring
        # multiplies instead of raising a whole catalogue to a power on every request.
        self._damping = np.ones(0, dtype=np.float64)
        self._windows: dict[int, deque[int]] = {}
        steps = np.arange(self.config.window_events, 0, -1, dtype=np.float64) - 1
        # Weight of the k-th newest item in a window of full length, oldest first.
        self._pair_weight_list = (self.config.window_decay**steps).tolist()
        self._recency_weights = self.config.recency_decay**steps

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
            self._rows.extend(defaultdict(float) for _ in range(capacity - len(self._rows)))

    def _to_sparse(self) -> None:
        assert self._dense is not None
        self._rows = []
        for row in self._dense:
            nz = np.flatnonzero(row)
            self._rows.append(defaultdict(float, zip(nz.tolist(), row[nz].tolist(), strict=True)))
        self._dense = None
        for idx in range(len(self._rows)):
            if len(self._rows[idx]) > self._prune_limit:
                self._prune(idx)

    def _prune(self, idx: int) -> None:
        row = self._rows[idx]
        keep = self.config.max_neighbors
        if len(row) > keep:
            strongest = sorted(row.items(), key=lambda kv: kv[1], reverse=True)[:keep]
            self._rows[idx] = defaultdict(float, strongest)
            self._row_cache.pop(idx, None)

    def fit(self, events: EventBatch) -> None:
        """Rebuild counts from scratch."""
        self._reset()
        self.partial_fit(events)

    def partial_fit(self, events: EventBatch) -> None:
        """Add each event's pairs with the user's window, then extend the window."""
        size = self.config.window_events
        for uidx, iidx, weight in zip(
            events.uidx.tolist(), events.iidx.tolist(), events.weight.tolist(), strict=True
        ):
            if weight <= 0:
                continue
            if iidx >= len(self._counts):
                # Grown per event, not per batch, so the dense-to-sparse switch happens at the
                # same event however the log is batched (fit(a + b) == fit(a), partial_fit(b)).
                self._grow(iidx + 1)
            window = self._windows.get(uidx)
            if window is None:
                window = self._windows[uidx] = deque(maxlen=size)
            count = self._counts[iidx] = self._counts[iidx] + weight
            self._damping[iidx] = (count + 1.0) ** -self.config.popularity_exponent
            if iidx in window:
                # A repeat (view, then click, then cart of one item) moves the item to the
                # front of the window but pairs nothing again: the pairs were counted when it
                # entered, and pairing an item with itself says nothing.
                window.remove(iidx)
            elif window:
                self._add_pairs(list(window), iidx, weight)
            window.append(iidx)

    def _add_pairs(self, history: list[int], iidx: int, weight: float) -> None:
        pair = [w * weight for w in self._pair_weight_list[-len(history) :]]
        if self._dense is not None:
            # A scalar loop beats np.add.at for a ten-item window (and, unlike fancy-index +=,
            # counts an item that repeats within the window once per occurrence).
            dense = self._dense
            for h, w in zip(history, pair, strict=True):
                dense[h, iidx] += w
                dense[iidx, h] += w
            return
        rows, limit = self._rows, self._prune_limit
        row_i = rows[iidx]
        stale = self._row_cache
        stale.pop(iidx, None)
        for h, w in zip(history, pair, strict=True):
            stale.pop(h, None)
            row_h = rows[h]
            row_h[iidx] += w
            row_i[h] += w
            if len(row_h) > limit:
                self._prune(h)
        if len(row_i) > limit:
            self._prune(iidx)

    def _rows_sum(self, items: list[int], weights: FloatArray, n_items: int) -> FloatArray:
        m = min(n_items, len(self._counts))
        if self._dense is not None and m == n_items:
            # take + a float32 dot is twice as fast as fancy-indexing and upcasting the block.
            block = self._dense.take(items, axis=0)
            summed = np.dot(weights.astype(np.float32), block)[:m]
            return summed.astype(np.float64)
        out = np.zeros(n_items, dtype=np.float64)
        if self._dense is not None:
            out[:m] = weights @ self._dense[items, :m]
            return out
        for h, w in zip(items, weights.tolist(), strict=True):
            keys, vals = self._row_arrays(h)
            if len(keys):
                keep = keys < n_items
                out[keys[keep]] += vals[keep] * w  # a row's keys are unique
        return out

    def _row_arrays(self, idx: int) -> tuple[npt.NDArray[np.int64], FloatArray]:
        """Return a sparse row as (keys, values) arrays, cached until the row changes."""
        cached = self._row_cache.get(idx)
        if cached is None:
            row = self._rows[idx]
            keys = np.fromiter(row.keys(), dtype=np.int64, count=len(row))
            vals = np.fromiter(row.values(), dtype=np.float64, count=len(row))
            cached = self._row_cache[idx] = (keys, vals)
        return cached

    def _normalise(self, scores: FloatArray) -> FloatArray:
        m = min(len(scores), len(self._counts))
        scores[:m] *= self._damping[:m]
        return scores

    def window(self, uidx: int) -> list[int]:
        """Return the user's recent window, oldest first."""
        return list(self._windows.get(uidx, ()))

    def score_user(self, uidx: int, n_items: int) -> FloatArray | None:
        """Sum the window's rows, newer items weighted up; None for users with no window."""
        items = self.window(uidx)
        if not items:
            return None
        weights = self._recency_weights[-len(items) :]
        return self._normalise(self._rows_sum(items, weights, n_items))

    def score_item(self, iidx: int, n_items: int) -> FloatArray | None:
        """Return the item's co-visitation row, normalised; None for unknown items."""
        if iidx >= len(self._counts) or self._counts[iidx] == 0:
            return None
        return self._normalise(self._rows_sum([iidx], np.ones(1), n_items))

    def strongest_links(self, items: list[int], targets: list[int]) -> list[int | None]:
        """Return, per target, which of ``items`` co-occurs most with it (for explanations)."""
        if not items or not targets:
            return [None] * len(targets)
        if self._dense is not None:
            block = self._dense[np.ix_(items, targets)]
            best = block.argmax(axis=0)
            return [items[b] if block[b, col] > 0 else None for col, b in enumerate(best.tolist())]
        links: list[int | None] = []
        for target in targets:
            weights = [self._rows[h].get(target, 0.0) for h in items]
            top = max(range(len(items)), key=weights.__getitem__)
            links.append(items[top] if weights[top] > 0 else None)
        return links
