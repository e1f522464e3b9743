"""Named pipelines: which sources score a request and how their scores are blended.

Every source's scores are scaled to [0, 1] over the items the request may return, then
weighted and summed; the per-source parts are kept so each answer can say why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from freshrec.config import BlendConfig
from freshrec.models import CoVisitation, Ease, ImplicitFactors, Trending
from freshrec.models.base import FloatArray

HOME = "home"
SIMILAR = "similar"
SCENARIOS = (HOME,)


@dataclass(frozen=True, slots=True)
class ModelSet:
    """The models one answer is computed from; replaced as a whole on a retrain."""

    covisitation: CoVisitation
    trending: Trending
    factors: ImplicitFactors
    ease: Ease
    version: str = "online-only"


@dataclass(slots=True)
class Blend:
    """Blended scores, shape [n_items], with each source's weighted part for explanations."""

    scores: FloatArray
    parts: dict[str, FloatArray] = field(default_factory=dict)

    def reasons(self, chosen: list[int]) -> list[list[tuple[str, float]]]:
        """Return, per chosen item, ``(source, share of its score)`` largest first."""
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


Scorer = Callable[[], FloatArray | None]


def blend(sources: list[tuple[str, float, Scorer]], allowed: npt.NDArray[np.bool_]) -> Blend:
    """Scale each source to [0, 1] over ``allowed`` and sum by weight.

    Args:
        sources: ``(name, weight, scorer)``; a scorer returns a fresh score array (which is
            modified here) or None. Zero-weight sources are never scored.
        allowed: mask, shape [n_items]; the result is 0 outside it.

    Returns:
        ``Blend`` whose scores are in [0, sum of weights]; ``parts`` names the sources that
        contributed (empty when none had anything to say).
    """
    total = np.zeros(len(allowed), dtype=np.float64)
    parts: dict[str, FloatArray] = {}
    for name, weight, scorer in sources:
        if weight <= 0:
            continue
        scores = scorer()
        if scores is None:
            continue
        np.maximum(scores, 0.0, out=scores)  # a source can only add evidence, never veto
        scores *= allowed  # two plain passes beat one masked reduction (max(where=...))
        top = float(scores.max()) if len(scores) else 0.0
        if top <= 0:
            continue
        scores *= weight / top
        total += scores
        parts[name] = scores
    return Blend(total, parts)


def home(
    models: ModelSet, weights: BlendConfig, uidx: int, allowed: npt.NDArray[np.bool_]
) -> Blend:
    """Blend every personalised source for a user with history."""
    n_items = len(allowed)
    return blend(
        [
            (
                CoVisitation.name,
                weights.covisitation,
                lambda: models.covisitation.score_user(uidx, n_items),
            ),
            (
                ImplicitFactors.name,
                weights.factors,
                lambda: models.factors.score_user(uidx, n_items),
            ),
            (Ease.name, weights.ease, lambda: models.ease.score_user(uidx, n_items)),
            (Trending.name, weights.trending, lambda: models.trending.scores(n_items)),
        ],
        allowed,
    )


def cold(models: ModelSet, allowed: npt.NDArray[np.bool_]) -> Blend:
    """Answer for a user with no history: what is trending among the allowed items."""
    return blend([(Trending.name, 1.0, lambda: models.trending.scores(len(allowed)))], allowed)


def similar(
    models: ModelSet, weights: BlendConfig, iidx: int, allowed: npt.NDArray[np.bool_]
) -> Blend:
    """Blend item-to-item sources for an item page."""
    n_items = len(allowed)
    return blend(
        [
            (
                CoVisitation.name,
                weights.covisitation,
                lambda: models.covisitation.score_item(iidx, n_items),
            ),
            (
                ImplicitFactors.name,
                weights.factors,
                lambda: models.factors.score_item(iidx, n_items),
            ),
            (Ease.name, weights.ease, lambda: models.ease.score_item(iidx, n_items)),
        ],
        allowed,
    )
