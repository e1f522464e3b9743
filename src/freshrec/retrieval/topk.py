"""Exact top-n selection over a dense score vector."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]
IntArray = npt.NDArray[np.int64]


def top_n(scores: FloatArray, n: int, allowed: npt.NDArray[np.bool_] | None = None) -> IntArray:
    """Return the indices of the ``n`` best scores, best first.

    Args:
        scores: shape [n_items]; ``-inf`` marks items that must never be returned.
        n: how many to return at most.
        allowed: optional mask, shape [n_items]; False entries are never returned.

    Returns:
        int64 indices, at most ``n``, no duplicates, scores non-increasing; ties keep the
        lower index first (callers add a fixed per-item tie-break to ``scores`` beforehand).

    >>> top_n(np.array([0.1, 0.9, 0.5]), 2).tolist()
    [1, 2]
    """
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    size = len(scores)
    if n <= 0 or size == 0:
        return np.zeros(0, dtype=np.int64)
    # Partition first, then sort only the n winners (lower index first among equal scores).
    winners = np.argpartition(scores, size - n)[size - n :] if n < size else np.arange(size)
    winners = winners[np.lexsort((winners, -scores[winners]))]
    if scores[winners[-1]] == -np.inf:
        winners = winners[np.isfinite(scores[winners])]
    return winners.astype(np.int64, copy=False)
