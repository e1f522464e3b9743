"""Putting trained weights to use: into the live models, and into (and out of) a saved artifact."""

from __future__ import annotations

import dataclasses

import numpy as np

from freshrec.config import EngineConfig
from freshrec.retrieval.ann import VectorIndex, VectorIndexConfig
from freshrec.retrieval.live_index import build_index
from freshrec.scenarios import ModelSet
from freshrec.state.vocabulary import IdVocabulary
from freshrec.training.artifacts import ModelArtifact
from freshrec.training.trainer import BatchWeights


def install(
    models: ModelSet,
    weights: BatchWeights,
    version: str,
    index: VectorIndex | None = None,
    background: bool = True,
) -> ModelSet:
    """Install weights into the live models; return the model set labelled ``version``.

    The models keep their per-user online state, so events that arrived while the weights
    were fitted fold in as usual. ``index`` (see ``factor_index``) serves factor candidates
    from now on (None keeps the serving one, if any); item rows that change later reach it
    on a worker thread (inline if not ``background``).
    """
    if weights.factors is not None:
        models.factors.set_item_factors(*weights.factors)
        if index is not None:
            models.factors.use_index(index, background)
    models.ease.set_weights(weights.ease)
    return dataclasses.replace(models, version=version)


def factor_index(config: EngineConfig, weights: BatchWeights, n_items: int) -> VectorIndex | None:
    """An inner-product ANN index over trained item factors, if answers will use candidates.

    Built before the weights are installed and outside the engine's lock: a graph over
    100k items takes seconds (``bench/candidates.py``).
    """
    if weights.factors is None or n_items < config.retrieval.candidates_from_items:
        return None
    factors, trained, _ = weights.factors
    rows = np.flatnonzero(trained)
    settings = VectorIndexConfig(
        dim=factors.shape[1], metric="ip", ef_search=config.retrieval.factor_ef_search
    )
    return build_index(settings, rows, factors[rows])


def to_artifact(
    version: str, weights: BatchWeights, item_ids: list[str], n_factors: int
) -> ModelArtifact:
    """Package weights with the item ids of their rows, for saving."""
    n = max(
        len(weights.factors[0]) if weights.factors is not None else 0,
        len(weights.ease) if weights.ease is not None else 0,
    )
    item_factors = np.zeros((n, n_factors))
    trained = np.zeros(n, np.bool_)
    user_gram = np.zeros((n_factors, n_factors))
    if weights.factors is not None:
        rows = len(weights.factors[0])
        item_factors[:rows], trained[:rows], user_gram = weights.factors
    return ModelArtifact(
        version, weights.events, item_ids[:n], item_factors, trained, user_gram, weights.ease
    )


def from_artifact(artifact: ModelArtifact, items: IdVocabulary) -> BatchWeights:
    """Return a saved artifact's weights re-indexed onto the current item vocabulary."""
    item_factors, trained, ease_weights = artifact.remap(items)
    factors = (item_factors, trained, artifact.user_gram) if trained.any() else None
    return BatchWeights(artifact.trained_through, factors, ease_weights)
