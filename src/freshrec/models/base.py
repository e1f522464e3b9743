"""The model protocol: fit / partial_fit / recommend / similar over dense indices."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from freshrec.retrieval import top_n

# Shared types live in ``freshrec.types``; re-exported here for the models that use them.
from freshrec.types import EventBatch, FloatArray, IntArray

__all__ = ["EventBatch", "FloatArray", "IntArray", "ScoringModel"]


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
