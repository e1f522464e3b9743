"""Putting trained weights to use: into the live models, and into (and out of) a saved artifact."""

from __future__ import annotations

import dataclasses

import numpy as np

from freshrec.scenarios import ModelSet
from freshrec.state.vocabulary import IdVocabulary
from freshrec.training.artifacts import ModelArtifact
from freshrec.training.trainer import BatchWeights


def install(models: ModelSet, weights: BatchWeights, version: str) -> ModelSet:
    """Install weights into the live models; return the model set labelled ``version``.

    The models keep their per-user online state, so events that arrived while the weights
    were fitted fold in as usual.
    """
    if weights.factors is not None:
        models.factors.set_item_factors(*weights.factors)
    models.ease.set_weights(weights.ease)
    return dataclasses.replace(models, version=version)


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
