"""The model protocol: fit / partial_fit / recommend / similar over dense indices."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from freshrec.retrieval import top_n

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events as column arrays in log order, ids already mapped to dense indices.

    All arrays have the same length. ``weight`` is the event type's interest weight
    (negative = rejection); ``positive`` marks preference signals (purchases, high ratings).
    """

    uidx: IntArray
    iidx: IntArray
    weight: FloatArray
    timestamp: FloatArray
    positive: npt.NDArray[np.bool_]

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, int, float, float, bool]]) -> EventBatch:
        """Build a batch from ``(uidx, iidx, weight, timestamp, positive)`` tuples."""
        if not rows:
            return cls.empty()
        u, i, w, t, p = zip(*rows, strict=True)
        return cls(
            np.asarray(u, dtype=np.int64),
            np.asarray(i, dtype=np.int64),
            np.asarray(w, dtype=np.float64),
            np.asarray(t, dtype=np.float64),
            np.asarray(p, dtype=np.bool_),
        )

    @classmethod
    def empty(cls) -> EventBatch:
        """Return a batch with no events."""
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.float64),
            np.zeros(0, np.float64),
            np.zeros(0, np.bool_),
        )

    def __len__(self) -> int:
        return len(self.uidx)


class ScoringModel(ABC):
    """Shared base of every model: scores all items densely, top-n does the rest.

    Subclasses implement ``fit``, ``partial_fit``, ``score_user`` and ``score_item``;
    ``recommend`` and ``similar`` follow from them so every model obeys one contract.
    """

    name: str = "model"
    # True when ``score_user`` and ``score_item`` never return a negative score.
    nonnegative: bool = False

    @abstractmethod
    def fit(self, events: EventBatch) -> None:
        """Rebuild the model from scratch on ``events`` (log order)."""

    @abstractmethod
    def partial_fit(self, events: EventBatch) -> None:
        """Update the model with new events (log order), as if appended to the fit data."""

    @abstractmethod
    def score_user(self, uidx: int, n_items: int) -> FloatArray | None:
        """Return scores for every item, shape [n_items], or None if the model knows nothing.

        The array is new on every call: callers may modify it in place.
        """

    @abstractmethod
    def score_item(self, iidx: int, n_items: int) -> FloatArray | None:
        """Return item-to-item similarities to ``iidx``, shape [n_items], or None (a new array)."""

    def recommend(self, uidx: int, n: int, exclude: Sequence[int], n_items: int) -> IntArray:
        """Return up to ``n`` item indices for the user, best first, never from ``exclude``."""
        scores = self.score_user(uidx, n_items)
        if scores is None:
            return np.zeros(0, dtype=np.int64)
        return _top_positive(scores, n, exclude)

    def similar(self, iidx: int, n: int, n_items: int) -> IntArray:
        """Return up to ``n`` items most similar to ``iidx``, best first, never ``iidx``."""
        scores = self.score_item(iidx, n_items)
        if scores is None:
            return np.zeros(0, dtype=np.int64)
        return _top_positive(scores, n, [iidx])


def _top_positive(scores: FloatArray, n: int, exclude: Sequence[int]) -> IntArray:
    scores = np.where(scores > 0, scores, -np.inf)
    if len(exclude):
        scores[np.asarray(exclude, dtype=np.int64)] = -np.inf
    return top_n(scores, n)
