"""Named pipelines: which sources score a request and how their scores are blended.

Every source's scores are scaled to [0, 1] over the items the request may return, then
weighted and summed; the per-source parts are kept so each answer can say why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from freshrec.config import BlendConfig, NewUserBlendConfig
from freshrec.models import CoVisitation, Ease, ImplicitFactors, Trending
from freshrec.models.base import FloatArray

HOME = "home"
SIMILAR = "similar"
NEW_USER = "new_user"
NEW_ITEM = "new_item"
SEARCH = "search"
CONTENT = "content"
SCENARIOS = (HOME, NEW_USER, NEW_ITEM)


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


class Source(NamedTuple):
    """One scored input of a blend. ``nonnegative``: the scorer never returns a negative."""

    name: str
    weight: float
    score: Scorer
    nonnegative: bool = False


def blend(sources: list[Source], allowed: npt.NDArray[np.bool_]) -> Blend:
    """Scale each source to [0, 1] over ``allowed`` and sum by weight.

    Args:
        sources: a scorer returns a fresh score array (which is modified here) or None.
            Zero-weight sources are never scored.
        allowed: mask, shape [n_items]; the result is 0 outside it.

    Returns:
        ``Blend`` whose scores are in [0, sum of weights]; ``parts`` names the sources that
        contributed (empty when none had anything to say).
    """
    # Answering is dominated by per-call overhead, not arithmetic: every step below is one
    # ufunc call straight into C (no Python-level wrappers such as ``ndarray.max``).
    multiply, maximum = np.multiply, np.maximum
    total: FloatArray | None = None
    parts: dict[str, FloatArray] = {}
    for name, weight, scorer, nonnegative in sources:
        if weight <= 0:
            continue
        scores = scorer()
        if scores is None or not len(scores):
            continue
        if not nonnegative:
            maximum(scores, 0.0, out=scores)  # a source can only add evidence, never veto
        multiply(scores, allowed, out=scores)
        top = float(maximum.reduce(scores))
        if top <= 0:
            continue
        multiply(scores, weight / top, out=scores)
        parts[name] = scores
        # The first part is copied, not added to zeros: 0 + x is x, so the sum is the same.
        total = scores.copy() if total is None else np.add(total, scores, out=total)
    if total is None:
        total = np.zeros(len(allowed), dtype=np.float64)
    return Blend(total, parts)


def behaviour_sources(
    models: ModelSet, covisitation: float, factors: float, uidx: int, n_items: int
) -> list[Source]:
    """The user's own behaviour: co-visitation from recent items, and the folded-in vector."""
    return [
        Source(
            CoVisitation.name,
            covisitation,
            lambda: models.covisitation.score_user(uidx, n_items),
            models.covisitation.nonnegative,
        ),
        Source(ImplicitFactors.name, factors, lambda: models.factors.score_user(uidx, n_items)),
    ]


def home(
    models: ModelSet,
    weights: BlendConfig,
    uidx: int,
    allowed: npt.NDArray[np.bool_],
    extra: Sequence[Source] = (),
) -> Blend:
    """Blend every personalised source for a user with history (``extra``: e.g. content)."""
    n_items = len(allowed)
    return blend(
        [
            *behaviour_sources(models, weights.covisitation, weights.factors, uidx, n_items),
            Source(Ease.name, weights.ease, lambda: models.ease.score_user(uidx, n_items)),
            Source(
                Trending.name,
                weights.trending,
                lambda: models.trending.scores(n_items),
                Trending.nonnegative,
            ),
            *extra,
        ],
        allowed,
    )


def cold(models: ModelSet, allowed: npt.NDArray[np.bool_]) -> Blend:
    """Answer for a user with no history: what is trending among the allowed items."""
    n_items = len(allowed)
    return blend(
        [Source(Trending.name, 1.0, lambda: models.trending.scores(n_items), Trending.nonnegative)],
        allowed,
    )


def similar(
    models: ModelSet,
    weights: BlendConfig,
    iidx: int,
    allowed: npt.NDArray[np.bool_],
    extra: Sequence[Source] = (),
) -> Blend:
    """Blend item-to-item sources for an item page (``extra``: e.g. content neighbours)."""
    n_items = len(allowed)
    return blend(
        [
            Source(
                CoVisitation.name,
                weights.covisitation,
                lambda: models.covisitation.score_item(iidx, n_items),
                models.covisitation.nonnegative,
            ),
            Source(
                ImplicitFactors.name,
                weights.factors,
                lambda: models.factors.score_item(iidx, n_items),
            ),
            Source(Ease.name, weights.ease, lambda: models.ease.score_item(iidx, n_items)),
            *extra,
        ],
        allowed,
    )


def new_user(
    models: ModelSet,
    weights: NewUserBlendConfig,
    uidx: int | None,
    allowed: npt.NDArray[np.bool_],
    extra: Sequence[Source] = (),
) -> Blend:
    """Blend for a user with few or no events: who they are, what they said, first clicks.

    ``extra`` brings the sources that need more than the models: segment trending (their
    properties) and content (their stated tastes and first items). Their first events count
    through co-visitation and fold-in as soon as they arrive.
    """
    n_items = len(allowed)
    sources = [*extra]
    if uidx is not None:
        sources += behaviour_sources(models, weights.covisitation, weights.factors, uidx, n_items)
    sources.append(
        Source(
            Trending.name,
            weights.trending,
            lambda: models.trending.scores(n_items),
            Trending.nonnegative,
        )
    )
    return blend(sources, allowed)


def fresh(
    models: ModelSet,
    uidx: int | None,
    allowed: npt.NDArray[np.bool_],
    extra: Sequence[Source] = (),
) -> Blend:
    """Rank fresh items (``allowed`` holds only them) for a user: the exploration slot.

    Factors score untouched items through their content-predicted coordinates, ``extra``
    adds the user's content profile; trending among fresh items breaks the rest.
    """
    n_items = len(allowed)
    sources = [*extra]
    if uidx is not None:
        sources.append(
            Source(ImplicitFactors.name, 1.0, lambda: models.factors.score_user(uidx, n_items))
        )
    sources.append(
        Source(Trending.name, 0.1, lambda: models.trending.scores(n_items), Trending.nonnegative)
    )
    return blend(sources, allowed)
