"""The models as candidate sources: co-visitation, factors, trending and EASE.

Each adapter reads its model through the model's own scoring methods, so the contract
suite (``freshrec.testing.SourceContract``) checks the models through the same seam that
serves configured sources.
"""

from __future__ import annotations

import numpy as np

from freshrec.blending import lookup, strongest
from freshrec.models import CoVisitation, Ease, ImplicitFactors, Trending
from freshrec.sources.base import Asker, top_positive
from freshrec.types import FloatArray, IntArray

# How old a trending source's hot list may be (seconds): it is re-sorted at most this often.
HOT_LIST_SECONDS = 1.0


def _at(scores: FloatArray | None, items: IntArray) -> FloatArray | None:
    """Dense ``scores`` at ``items`` (0 past their end)."""
    if scores is None:
        return None
    out = np.zeros(len(items), dtype=np.float64)
    inside = items < len(scores)
    out[inside] = scores[items[inside]]
    return out


class CoVisitationSource:
    """Items that co-occur with the user's recent ones (sparse neighbours)."""

    name = CoVisitation.name

    def __init__(self, model: CoVisitation) -> None:
        self._model = model
        self.nonnegative = model.nonnegative

    def score(self, user: Asker, items: IntArray | None) -> FloatArray | None:
        """See ``CandidateSource.score``."""
        if user.uidx is None:
            return None
        if items is None:
            return self._model.score_user(user.uidx, user.n_items)
        found = self._model.neighbours(user.uidx)
        return None if found is None else lookup(*found, items)

    def propose(self, user: Asker, n: int) -> IntArray | None:
        """See ``CandidateSource.propose``."""
        found = self._model.neighbours(user.uidx) if user.uidx is not None else None
        if found is None:
            return None
        keys, values = found
        keep = values > 0
        return strongest(keys[keep], values[keep], n)


class FactorsSource:
    """The user's folded-in vector against item factors (ANN nominees when indexed)."""

    name = ImplicitFactors.name
    nonnegative = False

    def __init__(self, model: ImplicitFactors) -> None:
        self._model = model

    def score(self, user: Asker, items: IntArray | None) -> FloatArray | None:
        """See ``CandidateSource.score``."""
        if user.uidx is None:
            return None
        if items is None:
            return self._model.score_user(user.uidx, user.n_items)
        return self._model.score_user_at(user.uidx, items)

    def propose(self, user: Asker, n: int) -> IntArray | None:
        """See ``CandidateSource.propose``."""
        if user.uidx is None:
            return None
        if self._model.index is not None:
            return self._model.propose(user.uidx, n)
        return top_positive(self._model.score_user(user.uidx, user.n_items), n)


class TrendingSource:
    """Decayed popularity: the same for every user."""

    name = Trending.name
    nonnegative = True

    def __init__(self, model: Trending) -> None:
        self._model = model

    def score(self, user: Asker, items: IntArray | None) -> FloatArray | None:
        """See ``CandidateSource.score``."""
        if items is None:
            return self._model.scores(user.n_items)
        return _at(self._model.scores(user.n_items), items)

    def propose(self, user: Asker, n: int) -> IntArray | None:
        """See ``CandidateSource.propose``."""
        hot = self._model.hot(n, HOT_LIST_SECONDS)
        return hot[hot < user.n_items]


class EaseSource:
    """EASE's item-item regression over the user's history (whole-catalogue only)."""

    name = Ease.name
    nonnegative = False

    def __init__(self, model: Ease) -> None:
        self._model = model

    def score(self, user: Asker, items: IntArray | None) -> FloatArray | None:
        """See ``CandidateSource.score``."""
        if user.uidx is None:
            return None
        scores = self._model.score_user(user.uidx, user.n_items)
        return scores if items is None else _at(scores, items)

    def propose(self, user: Asker, n: int) -> IntArray | None:
        """See ``CandidateSource.propose``."""
        if user.uidx is None:
            return None
        return top_positive(self._model.score_user(user.uidx, user.n_items), n)
