"""The event log as growable column arrays in memory, for fast retraining.

Reading millions of events back from the store for every retrain would cost far more than the
training itself; these columns are the same log, already mapped to dense indices.
"""

from __future__ import annotations

import numpy as np

from freshrec.types import EventBatch

# Appended batches held before one copy into the columns (see ``EventColumns.append``).
_MAX_WAITING = 256


class EventColumns:
    """Append-only columns ``uidx, iidx, weight, timestamp, positive`` (int32/float32 inside)."""

    def __init__(self, capacity: int = 1024) -> None:
        self._n = 0
        self._uidx = np.zeros(capacity, dtype=np.int32)
        self._iidx = np.zeros(capacity, dtype=np.int32)
        self._weight = np.zeros(capacity, dtype=np.float32)
        self._timestamp = np.zeros(capacity, dtype=np.float64)
        self._positive = np.zeros(capacity, dtype=np.bool_)
        # Small appends wait here and are copied in together: a replay appends one or two
        # events at a time, and five slice copies per append would cost more than the event.
        self._waiting: list[EventBatch] = []
        self._waiting_events = 0

    def __len__(self) -> int:
        return self._n + self._waiting_events

    def reserve(self, extra: int) -> None:
        """Room for ``extra`` more events, made now (the writer calls it off the write lock)."""
        self._reserve(self._waiting_events + extra)

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need <= len(self._uidx):
            return
        capacity = max(need, 2 * len(self._uidx))
        for name in ("_uidx", "_iidx", "_weight", "_timestamp", "_positive"):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    def append(self, batch: EventBatch) -> None:
        """Append a batch at the end of the log."""
        self._waiting.append(batch)
        self._waiting_events += len(batch)
        if len(self._waiting) >= _MAX_WAITING:
            self._settle()

    def _settle(self) -> None:
        """Copy the waiting batches into the columns."""
        if not self._waiting:
            return
        waiting = self._waiting
        k = self._waiting_events
        self._reserve(k)
        s = slice(self._n, self._n + k)
        self._uidx[s] = np.concatenate([b.uidx for b in waiting])
        self._iidx[s] = np.concatenate([b.iidx for b in waiting])
        self._weight[s] = np.concatenate([b.weight for b in waiting])
        self._timestamp[s] = np.concatenate([b.timestamp for b in waiting])
        self._positive[s] = np.concatenate([b.positive for b in waiting])
        self._n += k
        self._waiting, self._waiting_events = [], 0

    def newest_of_user(self, uidx: int, limit: int) -> np.ndarray:
        """Positions of the user's newest ``limit`` events, newest first (int64).

        Reads the waiting batches as they are (no ``_settle``): it runs under a read lock.
        """
        parts = [np.flatnonzero(self._uidx[: self._n] == uidx)]
        start = self._n
        for batch in self._waiting:
            parts.append(start + np.flatnonzero(batch.uidx == uidx))
            start += len(batch)
        positions = np.concatenate(parts)
        return positions[::-1][:limit].astype(np.int64)

    def item_counts(self, n_items: int) -> np.ndarray:
        """Return how many logged events each item has, shape [n_items], int64.

        Reads the waiting batches as they are (no ``_settle``): it runs under a read lock,
        and two readers settling at once would copy the same batches in twice.
        """
        counts = np.bincount(self._iidx[: self._n], minlength=n_items)
        for batch in list(self._waiting):
            counts += np.bincount(batch.iidx, minlength=n_items)[:n_items]
        return counts

    def slice(self, start: int = 0, stop: int | None = None) -> EventBatch:
        """Return events ``[start, stop)`` as a batch of copies (int64/float64 columns)."""
        self._settle()
        stop = self._n if stop is None else min(stop, self._n)
        s = slice(start, stop)
        return EventBatch(
            self._uidx[s].astype(np.int64),
            self._iidx[s].astype(np.int64),
            self._weight[s].astype(np.float64),
            self._timestamp[s].copy(),
            self._positive[s].copy(),
        )
