"""Recommenders: one protocol, one module per model."""

from freshrec.models.base import EventBatch, ScoringModel
from freshrec.models.covisitation import CoVisitation
from freshrec.models.ease import Ease
from freshrec.models.factors import ImplicitFactors
from freshrec.models.trending import Trending

__all__ = ["CoVisitation", "Ease", "EventBatch", "ImplicitFactors", "ScoringModel", "Trending"]
