"""The candidate-source protocol: what every input of a blend implements.

A source answers two questions about a user (LensKit's pipeline calls them candidate
selection and scoring): ``propose`` names the items it rates best, ``score`` rates given
items, or every item. The blend asks every source for nominees, takes their union and
scores it with every source (``blending.blend_candidates``), or scores the whole catalogue.
``freshrec.testing.SourceContract`` checks an implementation; ``registry`` makes one
available to configuration by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from freshrec.blending import Source
from freshrec.types import FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class Asker:
    """Who an answer is for: the user's index (None: never seen) and the catalogue size."""

    uidx: int | None
    n_items: int


@runtime_checkable
class CandidateSource(Protocol):
    """A source of a blend. Reads only: a source never changes what it reads.

    ``name`` labels its part of an answer (the ``why`` of each item); ``nonnegative`` says
    that no score is ever negative (the blend then skips clipping them).
    """

    name: str
    nonnegative: bool

    def propose(self, user: Asker, n: int) -> IntArray | None:
        """Up to ``n`` item indices this source rates best (any order), or None.

        Among them is the item of the source's highest score, so the blend's scale for
        this source is the same over candidates as over the whole catalogue.
        """
        ...

    def score(self, user: Asker, items: IntArray | None) -> FloatArray | None:
        """Scores of ``items`` (None: every item, shape [n_items]), or None: no opinion.

        A new float64 array on every call (the blend scales it in place); items the source
        knows nothing about score 0.
        """
        ...


def blend_source(source: CandidateSource, weight: float, user: Asker, k: int) -> Source:
    """The blend's view of ``source`` for one answer: ``k`` nominees, scores on demand."""
    return Source(
        source.name,
        weight,
        lambda: source.score(user, None),
        source.nonnegative,
        lambda: source.propose(user, k),
        lambda items: source.score(user, items),
    )


def top_positive(scores: FloatArray | None, n: int) -> IntArray | None:
    """The ``n`` items of highest positive score (any order): a dense source's nominees."""
    if scores is None:
        return None
    positive = np.flatnonzero(scores > 0)
    if len(positive) <= n:
        return positive
    return positive[np.argpartition(scores[positive], len(positive) - n)[len(positive) - n :]]
