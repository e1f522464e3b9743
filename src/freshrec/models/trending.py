"""Trending: exponentially time-decayed popularity, the cold-start answer."""

from __future__ import annotations

from freshrec.config import TrendingConfig
from freshrec.models.base import EventBatch, FloatArray, IntArray, ScoringModel
from freshrec.state.popularity import DecayedPopularity, HotList


class Trending(ScoringModel):
    """Scores every item by decayed popularity; the same list for every user."""

    name = "trending"
    nonnegative = True

    def __init__(self, config: TrendingConfig) -> None:
        self.config = config
        self._popularity = DecayedPopularity(config.half_life_seconds, config.max_gap_seconds)
        self._hot = HotList(self._popularity)

    def fit(self, events: EventBatch) -> None:
        """Recount from scratch."""
        self._popularity = DecayedPopularity(
            self.config.half_life_seconds, self.config.max_gap_seconds
        )
        self._hot = HotList(self._popularity)
        self.partial_fit(events)

    def partial_fit(self, events: EventBatch) -> None:
        """Count each event with a positive weight."""
        iidx, timestamp, weight = events.iidx, events.timestamp, events.weight
        if len(weight) and weight.min() <= 0:
            counted = weight > 0
            iidx, timestamp, weight = iidx[counted], timestamp[counted], weight[counted]
        self._popularity.add_many(iidx.tolist(), timestamp.tolist(), weight.tolist())

    def scores(self, n_items: int) -> FloatArray:
        """Return decayed popularity, shape [n_items]."""
        return self._popularity.scores(n_items)

    def scores_at(self, items: IntArray) -> FloatArray:
        """Return decayed popularity of ``items`` (the values ``scores`` holds for them)."""
        return self._popularity.at(items)

    def hot(self, k: int, max_age_seconds: float) -> IntArray:
        """The ``k`` hottest items, best first, from a list at most ``max_age_seconds`` old."""
        return self._hot.top(k, max_age_seconds)

    def score_user(self, uidx: int, n_items: int) -> FloatArray | None:
        """Return the global trending scores (independent of the user)."""
        return self.scores(n_items)

    def score_item(self, iidx: int, n_items: int) -> FloatArray | None:
        """Trending says nothing about item similarity."""
        return None
