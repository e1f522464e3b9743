"""Which items are fresh: few events so far, and created recently (on the event clock)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from freshrec.types import EventBatch


class FreshItems:
    """Per-item event counts and the newest event time, to tell fresh items from the rest.

    Age is measured against the newest event seen, not the wall clock, so a replay of an
    old log sees the same fresh items as the live system did.
    """

    def __init__(self, max_events: int, max_age_seconds: float) -> None:
        self.max_events = max_events
        self.max_age_seconds = max_age_seconds
        # A list, not an array: ingest adds one event at a time in a replay, and list
        # increments cost a fraction of numpy scalar updates; readers convert once.
        self._counts: list[int] = []
        self.latest = 0.0

    def add(self, events: EventBatch) -> None:
        """Count a batch of events."""
        if not len(events):
            return
        counts = self._counts
        items = events.iidx.tolist()
        needed = max(items) + 1
        if needed > len(counts):
            counts.extend([0] * (needed - len(counts)))
        for iidx in items:
            counts[iidx] += 1
        self.latest = max(self.latest, max(events.timestamp.tolist()))

    def mask(self, created_at: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Items with fewer than ``max_events`` events, created within ``max_age_seconds``.

        Shape [len(created_at)]; ``created_at`` 0 means unknown (the age test is skipped).

        Example:
            >>> fresh = FreshItems(max_events=2, max_age_seconds=100)
            >>> rows = [(0, 0, 1.0, 500.0, True), (0, 0, 1.0, 501.0, True)]
            >>> fresh.add(EventBatch.from_rows(rows))
            >>> fresh.mask(np.array([450.0, 450.0, 300.0, 0.0])).tolist()
            [False, True, False, True]
        """
        n_items = len(created_at)
        counts = np.zeros(n_items, dtype=np.int64)
        m = min(n_items, len(self._counts))
        counts[:m] = self._counts[:m]  # one conversion per answer that asks
        young = (created_at == 0) | (created_at >= self.latest - self.max_age_seconds)
        return (counts < self.max_events) & young

    def recency(self, created_at: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Newness in (0, 1]: 1 for an item created at the newest event, halving per max age.

        Items of unknown age score 0.5, so a fresh item with no evidence at all still gets
        an exploration slot (newest first) instead of never being shown.
        """
        age = np.maximum(self.latest - created_at, 0.0)
        scores = np.exp2(-age / self.max_age_seconds)
        scores[created_at == 0] = 0.5
        return scores
