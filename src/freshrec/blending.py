"""How sources combine into one answer: over every item, or over candidates only.

Every source's scores are scaled to [0, 1] over the items the request may return, then
weighted and summed; the per-source parts are kept so each answer can say why.

Two ways to compute the same blend:

- ``blend`` scores the whole catalogue (one array per source): exact, and cheap up to a few
  tens of thousands of items;
- ``blend_candidates`` asks each source for the items it rates best (``propose``: the user's
  co-visitation neighbours, nearest items in factor or text space, the hot list), takes their
  union, and scores only those with every source (``at``). Each source's maximum, the
  scale of its part, is among its own nominees, so a candidate's blended score is the one
  the whole-catalogue blend gives it; what can differ is an item no source nominates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

Scorer = Callable[[], FloatArray | None]
Proposer = Callable[[], IntArray | None]
PointScorer = Callable[[IntArray], FloatArray | None]


@dataclass(slots=True)
class Blend:
    """Blended scores with each source's weighted part, for explanations.

    Arrays are indexed by position; ``items`` gives each position's item index (None: the
    blend covers the whole catalogue and a position is the item index).
    """

    scores: FloatArray
    parts: dict[str, FloatArray] = field(default_factory=dict)
    items: IntArray | None = None

    def item_of(self, positions: IntArray) -> IntArray:
        """Item indices at ``positions``."""
        return positions if self.items is None else self.items[positions]

    def positions_of(self, items: IntArray) -> IntArray:
        """Positions of those of ``items`` the blend holds (candidate blends hold a few)."""
        if self.items is None:
            return items
        where = np.searchsorted(self.items, items)  # ``items`` of a candidate blend are sorted
        inside = where < len(self.items)
        where = where[inside]
        return where[self.items[where] == items[inside]]

    def reasons(self, chosen: list[int]) -> list[list[tuple[str, float]]]:
        """Return, per chosen position, ``(source, share of its score)`` largest first."""
        if not self.parts or not chosen:
            return [[] for _ in chosen]
        names = list(self.parts)
        block = np.stack([self.parts[name][chosen] for name in names])  # [sources, chosen]
        totals = block.sum(axis=0)
        out: list[list[tuple[str, float]]] = []
        for col, total in enumerate(totals.tolist()):
            if total <= 0:
                out.append([])
                continue
            shares = [(names[r], float(block[r, col]) / total) for r in range(len(names))]
            out.append(sorted((ns for ns in shares if ns[1] > 0), key=lambda ns: -ns[1]))
        return out


class Source(NamedTuple):
    """One scored input of a blend.

    ``score`` returns scores of every item (a fresh array, modified by the blend) or None.
    ``nonnegative``: the scorer never returns a negative. For candidate blends, ``propose``
    returns the items the source rates best (or None) and ``at`` the scores of given items
    (a fresh array, or None when the source knows nothing); a source without ``at`` makes
    a blend fall back to the whole catalogue.
    """

    name: str
    weight: float
    score: Scorer
    nonnegative: bool = False
    propose: Proposer | None = None
    at: PointScorer | None = None


def blend(sources: list[Source], allowed: Mask) -> Blend:
    """Scale each source to [0, 1] over ``allowed`` and sum by weight.

    Args:
        sources: zero-weight sources are never scored.
        allowed: mask, shape [n_items]; the result is 0 outside it.

    Returns:
        ``Blend`` whose scores are in [0, sum of weights]; ``parts`` names the sources that
        contributed (empty when none had anything to say).
    """
    scored = ((s.name, s.weight, s.score, s.nonnegative) for s in sources if s.weight > 0)
    total, parts = _combine(scored, allowed)
    return Blend(np.zeros(len(allowed)) if total is None else total, parts)


def blend_candidates(sources: list[Source], allowed: Mask, n: int) -> Blend | None:
    """The blend of ``sources`` over the union of their nominees that ``allowed`` lets through.

    Returns None when the whole-catalogue blend is needed instead: a weighted source cannot
    score candidates, or fewer than ``n`` allowed candidates came up (a narrow filter, a
    small catalogue), so the answer might be short where the catalogue is not.
    """
    active = [s for s in sources if s.weight > 0]
    if not active or any(s.at is None for s in active):
        return None
    nominated = [
        found
        for s in active
        if s.propose is not None and (found := s.propose()) is not None and len(found)
    ]
    if not nominated:
        return None
    items = np.unique(np.concatenate(nominated))
    items = items[items < len(allowed)]
    items = items[allowed[items]]
    if len(items) < n:
        return None

    def at(score: PointScorer) -> Scorer:
        return lambda: score(items)

    scored = ((s.name, s.weight, at(s.at), s.nonnegative) for s in active if s.at is not None)
    total, parts = _combine(scored, None)
    return Blend(np.zeros(len(items)) if total is None else total, parts, items)


def _combine(
    scored: Iterable[tuple[str, float, Scorer, bool]], allowed: Mask | None
) -> tuple[FloatArray | None, dict[str, FloatArray]]:
    """Scale each ``(name, weight, scorer, nonnegative)`` to its maximum and sum them."""
    # Answering is dominated by per-call overhead, not arithmetic: every step below is one
    # ufunc call straight into C (no Python-level wrappers such as ``ndarray.max``).
    multiply, maximum = np.multiply, np.maximum
    total: FloatArray | None = None
    parts: dict[str, FloatArray] = {}
    # The mask as 0.0/1.0 once: float times bool casts on every call, ~3x slower per source.
    keep = None if allowed is None else allowed.astype(np.float64)
    for name, weight, scorer, nonnegative in scored:
        scores = scorer()
        if scores is None or not len(scores):
            continue
        if not nonnegative:
            maximum(scores, 0.0, out=scores)  # a source can only add evidence, never veto
        if keep is not None:
            multiply(scores, keep, out=scores)
        top = float(maximum.reduce(scores))
        if top <= 0:
            continue
        multiply(scores, weight / top, out=scores)
        parts[name] = scores
        # The first part is copied, not added to zeros: 0 + x is x, so the sum is the same.
        total = scores.copy() if total is None else np.add(total, scores, out=total)
    return total, parts


def lookup(keys: IntArray, values: FloatArray, items: IntArray) -> FloatArray:
    """``values`` of ``items`` in a sparse vector with sorted ``keys``; 0 where absent."""
    if not len(keys):
        return np.zeros(len(items), dtype=np.float64)
    where = np.searchsorted(keys, items)
    np.minimum(where, len(keys) - 1, out=where)
    return np.where(keys[where] == items, values[where], 0.0)


def strongest(keys: IntArray, values: FloatArray, k: int) -> IntArray:
    """The ``k`` keys with the largest values (unordered): a sparse source's nominees."""
    if len(keys) <= k:
        return keys
    return keys[np.argpartition(values, len(values) - k)[len(values) - k :]]
