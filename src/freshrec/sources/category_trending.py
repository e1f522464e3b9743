"""Recently popular in the user's categories: trending, narrowed to what the user browses.

Global trending answers "what is everyone looking at"; a user who browses one or two
categories is better served by what is hot there. The user's recent items give each
category a share (how many of their recent events fall in it); an item scores its decayed
popularity (the trending model's, on the event clock) times the largest share among its
categories. A user without recent events has no opinion here (global trending and the
new-user pipeline answer them). Added as one module plus one line of configuration:
``blend.sources = {"category_trending": 0.2}``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from freshrec.models.trending import Trending
from freshrec.sources.base import Asker, top_positive
from freshrec.state.online import OnlineState
from freshrec.types import FloatArray, IntArray

# The user's categories that count: the most frequent few of their recent items'.
TOP_CATEGORIES = 3


class CategoryTrending:
    """Trending within the categories of the user's recent items."""

    name = "category_trending"
    nonnegative = True

    def __init__(self, state: OnlineState, trending: Trending) -> None:
        self._state = state
        self._trending = trending

    def _shares(self, user: Asker) -> list[tuple[str, float]]:
        """The user's top categories with their share of the user's recent events."""
        if user.uidx is None:
            return []
        history = self._state.histories.get(user.uidx)
        if history is None or not history.recent:
            return []
        catalog = self._state.catalog
        counts: Counter[str] = Counter()
        for iidx, _, weight in history.recent:
            if weight > 0:
                counts.update(catalog.categories_of(iidx))
        total = sum(counts.values())
        return [(c, n / total) for c, n in counts.most_common(TOP_CATEGORIES)] if total else []

    def _weights(self, shares: list[tuple[str, float]], n_items: int) -> FloatArray:
        """Per item, the largest share among its categories (0 outside them)."""
        weights = np.zeros(n_items, dtype=np.float64)
        for category, share in shares:
            np.maximum(
                weights, share * self._state.catalog.in_category(category, n_items), out=weights
            )
        return weights

    def score(self, user: Asker, items: IntArray | None) -> FloatArray | None:
        """See ``CandidateSource.score``."""
        shares = self._shares(user)
        if not shares:
            return None
        weights = self._weights(shares, user.n_items)
        if items is None:
            return np.multiply(self._trending.scores(user.n_items), weights)
        inside = items < user.n_items
        out = np.zeros(len(items), dtype=np.float64)
        chosen = items[inside]
        out[inside] = self._trending.scores_at(chosen) * weights[chosen]
        return out

    def propose(self, user: Asker, n: int) -> IntArray | None:
        """See ``CandidateSource.propose``."""
        return top_positive(self.score(user, None), n)
