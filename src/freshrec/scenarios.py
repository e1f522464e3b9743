"""Named pipelines: which sources score a request (``blending`` says how they combine).

Each scenario lists its sources with their weights. Given ``Candidates`` (large catalogues),
each source also nominates its best items and scores given ones, and the blend covers the
nominees only (``blending.blend_candidates``); without, or when candidates fall short, the
whole catalogue is scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from freshrec.blending import Blend, Source, blend, blend_candidates, lookup, strongest
from freshrec.config import BlendConfig, NewUserBlendConfig, RetrievalConfig
from freshrec.models import CoVisitation, Ease, ImplicitFactors, Trending
from freshrec.models.modelset import ModelSet
from freshrec.types import FloatArray, IntArray

__all__ = ["Blend", "Candidates", "ModelSet", "Source", "blend"]

HOME = "home"
SIMILAR = "similar"
NEW_USER = "new_user"
NEW_ITEM = "new_item"
SEARCH = "search"
CONTENT = "content"
SCENARIOS = (HOME, NEW_USER, NEW_ITEM)


@dataclass(frozen=True, slots=True)
class Candidates:
    """Score candidates only: how many items each source nominates for an answer of ``n``."""

    config: RetrievalConfig
    n: int

    def k(self, wanted: int) -> int:
        """Nominees per source: the configured count, and never fewer than twice the answer."""
        return max(wanted, 2 * self.n)


def combine(
    sources: list[Source], allowed: npt.NDArray[np.bool_], pool: Candidates | None
) -> Blend:
    """The candidate blend when ``pool`` is given and it suffices, else the whole catalogue."""
    if pool is not None:
        result = blend_candidates(sources, allowed, pool.n)
        if result is not None:
            return result
    return blend(sources, allowed)


def covisitation_source(
    models: ModelSet, weight: float, uidx: int, n_items: int, pool: Candidates | None
) -> Source:
    """Co-visitation from the user's recent items (sparse neighbours when given a pool)."""
    model = models.covisitation
    dense = lambda: model.score_user(uidx, n_items)  # noqa: E731
    if pool is None:
        return Source(model.name, weight, dense, model.nonnegative)
    found: list[tuple[IntArray, FloatArray] | None] = []

    def neighbours() -> tuple[IntArray, FloatArray] | None:
        if not found:  # once per answer: propose and at read the same sum
            found.append(model.neighbours(uidx))
        return found[0]

    def propose() -> IntArray | None:
        got = neighbours()
        return None if got is None else strongest(*got, pool.k(pool.config.covisitation_candidates))

    def at(items: IntArray) -> FloatArray | None:
        got = neighbours()
        return None if got is None else lookup(*got, items)

    return Source(model.name, weight, dense, model.nonnegative, propose, at)


def factors_source(
    models: ModelSet, weight: float, uidx: int, n_items: int, pool: Candidates | None
) -> Source:
    """The user's folded-in vector against item factors (ANN nominees when given a pool)."""
    model = models.factors
    dense = lambda: model.score_user(uidx, n_items)  # noqa: E731
    if pool is None:
        return Source(model.name, weight, dense)
    k = pool.k(pool.config.factor_candidates)
    return Source(
        model.name,
        weight,
        dense,
        False,
        lambda: model.propose(uidx, k),
        lambda items: model.score_user_at(uidx, items),
    )


def trending_source(
    models: ModelSet, weight: float, n_items: int, pool: Candidates | None
) -> Source:
    """Decayed popularity (the hot list's nominees when given a pool)."""
    model = models.trending
    dense = lambda: model.scores(n_items)  # noqa: E731
    if pool is None:
        return Source(model.name, weight, dense, model.nonnegative)
    k, age = pool.k(pool.config.trending_candidates), pool.config.hot_refresh_seconds
    return Source(
        model.name, weight, dense, model.nonnegative, lambda: model.hot(k, age), model.scores_at
    )


def behaviour_sources(
    models: ModelSet,
    covisitation: float,
    factors: float,
    uidx: int,
    n_items: int,
    pool: Candidates | None = None,
) -> list[Source]:
    """The user's own behaviour: co-visitation from recent items, and the folded-in vector."""
    return [
        covisitation_source(models, covisitation, uidx, n_items, pool),
        factors_source(models, factors, uidx, n_items, pool),
    ]


def home(
    models: ModelSet,
    weights: BlendConfig,
    uidx: int,
    allowed: npt.NDArray[np.bool_],
    extra: Sequence[Source] = (),
    pool: Candidates | None = None,
) -> Blend:
    """Blend every personalised source for a user with history (``extra``: e.g. content).

    EASE scores the whole catalogue (it has no nominees): with a positive EASE weight the
    answer is a whole-catalogue blend whatever ``pool`` says.
    """
    n_items = len(allowed)
    return combine(
        [
            *behaviour_sources(models, weights.covisitation, weights.factors, uidx, n_items, pool),
            Source(Ease.name, weights.ease, lambda: models.ease.score_user(uidx, n_items)),
            trending_source(models, weights.trending, n_items, pool),
            *extra,
        ],
        allowed,
        pool,
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
    pool: Candidates | None = None,
) -> Blend:
    """Blend for a user with few or no events: who they are, what they said, first clicks.

    ``extra`` brings the sources that need more than the models: segment trending (their
    properties) and content (their stated tastes and first items). Their first events count
    through co-visitation and fold-in as soon as they arrive.
    """
    n_items = len(allowed)
    sources = [*extra]
    if uidx is not None:
        sources += behaviour_sources(
            models, weights.covisitation, weights.factors, uidx, n_items, pool
        )
    sources.append(trending_source(models, weights.trending, n_items, pool))
    return combine(sources, allowed, pool)


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
