"""Sources by name, for configuration (``blend.sources``): one line per source.

A factory gets the online state and the models of the answer being computed (a retrain
swaps the whole ``ModelSet``) and returns a ``CandidateSource``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from freshrec.errors import ValidationError
from freshrec.models.modelset import ModelSet
from freshrec.sources.base import CandidateSource
from freshrec.sources.category_trending import CategoryTrending
from freshrec.sources.models import CoVisitationSource, EaseSource, FactorsSource, TrendingSource
from freshrec.state.online import OnlineState

SourceFactory = Callable[[OnlineState, ModelSet], CandidateSource]

SOURCES: dict[str, SourceFactory] = {
    "covisitation": lambda state, models: CoVisitationSource(models.covisitation),
    "factors": lambda state, models: FactorsSource(models.factors),
    "trending": lambda state, models: TrendingSource(models.trending),
    "ease": lambda state, models: EaseSource(models.ease),
    "category_trending": lambda state, models: CategoryTrending(state, models.trending),
}


def check_names(names: Iterable[str], where: str) -> None:
    """Raise ``ValidationError`` naming ``where.<name>`` for a source nobody registered."""
    for name in names:
        if name not in SOURCES:
            known = ", ".join(sorted(SOURCES))
            raise ValidationError(f"unknown source (known: {known})", f"{where}.{name}")


def build(name: str, state: OnlineState, models: ModelSet) -> CandidateSource:
    """The source registered as ``name`` over this state and these models."""
    return SOURCES[name](state, models)
