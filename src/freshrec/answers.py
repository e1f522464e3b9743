"""From a blend to an answer: the top-n item indices, then ``Recommendation`` objects with reasons.

Blends are zero outside the items an answer may hold and never negative, so the winners with a
positive score are the answer; a fixed tiny per-item tie-break orders equal scores the same way
whatever order the items were first seen in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from freshrec.blending import Blend
from freshrec.models import CoVisitation
from freshrec.retrieval.topk import best_unordered
from freshrec.types import Recommendation

IntArray = npt.NDArray[np.int64]


def top_indices(result: Blend, tie_break: npt.NDArray[np.float64], n: int) -> IntArray:
    """Return up to ``n`` positions of ``result`` with a positive score, best first.

    Positions are item indices for a whole-catalogue blend (``result.item_of`` maps them
    in general). The selection of ``retrieval.top_n`` (ties: lower index first) on
    ``scores + tie_break``, written as direct ndarray calls: this runs once per answer,
    where wrappers cost more than the work.
    """
    scores = result.scores
    ranked = np.add(scores, tie_break if result.items is None else tie_break[result.items])
    winners = best_unordered(ranked, n)
    winners = winners[np.lexsort((winners, np.negative(ranked[winners])))]
    return winners[scores[winners] > 0]


def recommendations(
    result: Blend,
    ranked: IntArray,
    id_of: Callable[[int], str],
    links: Callable[[list[int]], list[int | None]] | None,
    explain: bool = True,
) -> list[Recommendation]:
    """Build the answer for ``ranked`` positions of ``result``.

    Args:
        result: the blend the positions were chosen from.
        ranked: positions (see ``top_indices``), best first.
        id_of: maps an item index to its external id.
        links: for co-visitation reasons, maps chosen items to the history item that led to
            each (or None); None when the answer has no user history.
        explain: False leaves ``why`` empty (cheaper).
    """
    chosen = ranked.tolist()
    scores = result.scores[ranked].tolist()
    whys = reasons(result, chosen, id_of, links) if explain else [()] * len(chosen)
    items = chosen if result.items is None else result.items[ranked].tolist()
    return [
        Recommendation(id_of(i), score, why)
        for i, score, why in zip(items, scores, whys, strict=True)
    ]


def reasons(
    result: Blend,
    chosen: list[int],
    id_of: Callable[[int], str],
    links: Callable[[list[int]], list[int | None]] | None,
) -> list[tuple[str, ...]]:
    """Explain each chosen position: source shares, and the history item that led to it."""
    whys = [
        [f"{name} {share:.0%}" for name, share in r if share >= 0.005]  # no "trending 0%"
        for r in result.reasons(chosen)
    ]
    if links is not None and CoVisitation.name in result.parts:
        items = chosen if result.items is None else result.items[chosen].tolist()
        for why, anchor in zip(whys, links(items), strict=True):
            if anchor is not None:
                why.append(f"after {id_of(anchor)}")
    return [tuple(w) for w in whys]


@dataclass(frozen=True, slots=True)
class Exploration:
    """Fresh items chosen for a home feed's exploration slots, with the blend that chose them."""

    blend: Blend | None
    items: IntArray

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def none(cls) -> Exploration:
        """No exploration slots."""
        return cls(None, np.zeros(0, dtype=np.int64))


def slot_positions(total: int, picks: int) -> list[int]:
    """Where ``picks`` exploration items go in a list of ``total``: evenly, ends of strides.

    Example:
        >>> slot_positions(10, 1), slot_positions(10, 2), slot_positions(3, 3)
        ([9], [4, 9], [0, 1, 2])
    """
    stride = total // picks if picks else 0
    return [(k + 1) * stride - 1 for k in range(picks)]


def interleave(
    recs: list[Recommendation], picks: list[Recommendation], tag: str | None
) -> list[Recommendation]:
    """Put ``picks`` at their slots in ``recs``, keeping scores non-increasing.

    A pick takes the score of the item it displaces (or of the last item, at the end), so
    the list stays ordered; ``tag`` is added to its reasons.
    """
    out = list(recs)
    for position, pick in zip(
        slot_positions(len(recs) + len(picks), len(picks)), picks, strict=True
    ):
        position = min(position, len(out))
        if position < len(out):
            score = out[position].score  # ties with the item it pushes down
        else:
            score = min(pick.score, out[-1].score) if out else pick.score
        why = (*pick.why, tag) if tag else pick.why
        out.insert(position, replace(pick, score=score, why=why))
    return out


def interleave_ids(ids: list[str], picks: list[str]) -> list[str]:
    """``interleave`` for bare ids (the replay's fast path)."""
    out = list(ids)
    for position, pick in zip(
        slot_positions(len(ids) + len(picks), len(picks)), picks, strict=True
    ):
        out.insert(min(position, len(out)), pick)
    return out
