"""EASE (Steck, 2019): a closed-form item-item regression for small catalogues.

``B = I - P / diag(P)`` with ``P = (XᵀX + λI)⁻¹`` over the binary positive matrix. It costs
O(n_items³) to fit and O(n_items²) memory, so it only trains up to ``max_items``; a user's
score is the sum of ``B``'s rows for their most recent items (the profile).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from freshrec.config import EaseConfig
from freshrec.models.base import EventBatch, FloatArray, ScoringModel


class Ease(ScoringModel):
    """EASE weights, refreshed by ``fit``; the per-user profile window updates per event."""

    name = "ease"

    def __init__(self, config: EaseConfig) -> None:
        self.config = config
        self._weights: npt.NDArray[np.float32] | None = None
        self._windows: dict[int, deque[int]] = {}

    @property
    def fitted(self) -> bool:
        """Whether a weight matrix is installed."""
        return self._weights is not None

    def fit(self, events: EventBatch) -> None:
        """Solve EASE on the positives and rebuild the profile windows."""
        self._windows = {}
        self.partial_fit(events)
        self.set_weights(self.solve(events))

    def solve(self, events: EventBatch) -> npt.NDArray[np.float32] | None:
        """Return EASE weights for ``events`` without touching live state.

        None above ``max_items`` items (too big to invert) or without positives.
        """
        n_items = int(events.iidx.max()) + 1 if len(events) else 0
        pos = events.positive
        if n_items == 0 or n_items > self.config.max_items or not pos.any():
            return None
        n_users = int(events.uidx.max()) + 1
        matrix = sp.csr_matrix(
            (np.ones(int(pos.sum())), (events.uidx[pos], events.iidx[pos])),
            shape=(n_users, n_items),
        )
        matrix.data[:] = 1.0
        gram = (matrix.T @ matrix).toarray()
        gram[np.diag_indices(n_items)] += self.config.l2
        inverse = np.linalg.inv(gram)
        weights = -inverse / np.diag(inverse)
        weights[np.diag_indices(n_items)] = 0.0
        return weights.astype(np.float32)

    def set_weights(self, weights: npt.NDArray[np.floating] | None) -> None:
        """Install a weight matrix, shape [n_items, n_items] (or None to unfit)."""
        self._weights = None if weights is None else np.asarray(weights, dtype=np.float32)

    def weights(self) -> npt.NDArray[np.float32] | None:
        """Return the installed weight matrix (for saving), or None."""
        return self._weights

    def partial_fit(self, events: EventBatch) -> None:
        """Extend each user's profile window with their non-negative events."""
        size = self.config.profile_events
        for uidx, iidx, weight in zip(
            events.uidx.tolist(), events.iidx.tolist(), events.weight.tolist(), strict=True
        ):
            if weight > 0:
                self._windows.setdefault(uidx, deque(maxlen=size)).append(iidx)

    def score_user(self, uidx: int, n_items: int) -> FloatArray | None:
        """Return the profile's summed rows of B; None when unfitted or without a profile."""
        if self._weights is None:
            return None
        known = [i for i in self._windows.get(uidx, ()) if i < len(self._weights)]
        if not known:
            return None
        out = np.zeros(n_items, dtype=np.float64)
        m = min(n_items, len(self._weights))
        out[:m] = self._weights[known, :m].sum(axis=0)
        return out

    def score_item(self, iidx: int, n_items: int) -> FloatArray | None:
        """Return row ``iidx`` of B; None when unfitted or the item is newer than the fit."""
        if self._weights is None or iidx >= len(self._weights):
            return None
        out = np.zeros(n_items, dtype=np.float64)
        m = min(n_items, len(self._weights))
        out[:m] = self._weights[iidx, :m]
        return out
