"""The models one answer is computed from, published by swapping one reference."""

from __future__ import annotations

from dataclasses import dataclass

from freshrec.models.covisitation import CoVisitation
from freshrec.models.ease import Ease
from freshrec.models.factors import ImplicitFactors
from freshrec.models.trending import Trending


@dataclass(frozen=True, slots=True)
class ModelSet:
    """The models one answer is computed from; replaced as a whole on a retrain."""

    covisitation: CoVisitation
    trending: Trending
    factors: ImplicitFactors
    ease: Ease
    version: str = "online-only"


class PublishedModels:
    """The serving ``ModelSet``: one reference, swapped whole by the writer.

    The swap happens under the engine's write lock and answers hold it as readers, so no
    answer sees two versions; whatever else a model version needs is built before the swap.
    """

    def __init__(self, models: ModelSet) -> None:
        self.current = models
