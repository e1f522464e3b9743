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
    if n <= 0 or len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    if n < len(scores) and np.isfinite(scores).all():
        # Common case: no -inf; partition first, then sort only the n winners.
        part = np.argpartition(-scores, n - 1)[:n]
        return part[np.lexsort((part, -scores[part]))].astype(np.int64)
    finite = np.flatnonzero(np.isfinite(scores))
    if finite.size == 0 or n <= 0:
        return np.zeros(0, dtype=np.int64)
    values = scores[finite]
    if finite.size > n:
        part = np.argpartition(-values, n - 1)[:n]
        finite, values = finite[part], values[part]
    order = np.lexsort((finite, -values))
    return finite[order].astype(np.int64)
