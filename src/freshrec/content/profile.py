"""A user's position in content space: what they recently liked, and what they said they like."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from freshrec.content.embeddings import EmbeddingTable

FloatVector = npt.NDArray[np.float32]


def content_profile(
    table: EmbeddingTable,
    recent: Sequence[tuple[int, float]],
    *,
    recency_decay: float,
    stated: FloatVector | None = None,
    stated_weight: float = 1.0,
) -> FloatVector | None:
    """Return the unit vector of a user's recent tastes, or None when nothing is known.

    Args:
        table: item vectors.
        recent: ``(iidx, event weight)`` of the user's recent events, oldest first; events
            with a weight ≤ 0 and items without a vector are skipped.
        recency_decay: the newest event counts 1, the one before ``recency_decay``, then its
            square, ...: a shopper's last clicks say more than last week's.
        stated: the embedding of the user's own words about their tastes (``user.text``),
            which carries ``stated_weight`` against a total event weight of 1.
        stated_weight: see ``stated``.

    Example:
        >>> table = EmbeddingTable("t", "1", 2)
        >>> table.put([0, 1], np.array([[1, 0], [0, 1]], dtype=np.float32), ["a", "b"])
        >>> profile = content_profile(table, [(0, 1.0), (1, 1.0)], recency_decay=0.5)
        >>> [round(float(x), 3) for x in profile]
        [0.447, 0.894]
    """
    matrix, present = table.matrix, table.present
    rows: list[int] = []
    weights: list[float] = []
    age = 0
    for iidx, weight in reversed(recent):
        if weight <= 0 or iidx >= len(present) or not present[iidx]:
            continue
        rows.append(iidx)
        weights.append(weight * recency_decay**age)
        age += 1
    profile = np.zeros(table.dim, dtype=np.float32)
    if rows:
        w = np.asarray(weights, dtype=np.float32)
        profile = (w / w.sum()) @ matrix[rows]
    if stated is not None and stated_weight > 0:
        profile = profile + np.float32(stated_weight) * stated
    norm = float(np.linalg.norm(profile))
    if norm == 0.0:
        return None
    return (profile / norm).astype(np.float32)
