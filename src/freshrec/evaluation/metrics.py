"""Ranking metrics at a cutoff, each in [0, 1]."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence


def hit_rate(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Return 1.0 if any relevant item is in the top ``k``, else 0.0.

    >>> hit_rate(["a", "b", "c"], {"c"}, 2), hit_rate(["a", "b", "c"], {"b"}, 2)
    (0.0, 1.0)
    """
    return 1.0 if any(item in relevant for item in ranked[:k]) else 0.0


def recall(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Return the share of relevant items found in the top ``k`` (0.0 when none are relevant).

    >>> recall(["a", "b", "c"], {"a", "c", "z"}, 3)
    0.6666666666666666
    """
    if not relevant:
        return 0.0
    return sum(1 for item in ranked[:k] if item in relevant) / len(relevant)


def ndcg(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Return binary-relevance NDCG at ``k``: DCG over the DCG of a perfect ranking.

    >>> round(ndcg(["a", "b"], {"b"}, 2), 4)
    0.6309
    """
    dcg = sum(1.0 / math.log2(pos + 2) for pos, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(pos + 2) for pos in range(min(len(relevant), k)))
    return dcg / ideal if ideal > 0 else 0.0


def coverage(recommended: Collection[str], catalogue_size: int) -> float:
    """Return the share of the catalogue that appeared in at least one list."""
    return len(recommended) / catalogue_size if catalogue_size else 0.0
