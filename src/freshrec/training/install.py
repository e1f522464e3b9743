"""Putting trained weights to use: into the live models, and into (and out of) a saved artifact."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from freshrec.config import EngineConfig
from freshrec.models import als
from freshrec.models.factors import PreparedFactors
from freshrec.models.modelset import ModelSet
from freshrec.retrieval.ann import VectorIndex, VectorIndexConfig
from freshrec.retrieval.live_index import IndexedVectors, build_index
from freshrec.state.vocabulary import IdVocabulary
from freshrec.training.artifacts import ModelArtifact
from freshrec.training.trainer import BatchWeights
from freshrec.types import EventBatch, FloatArray


@dataclass(frozen=True, slots=True)
class FactorIndex:
    """A new factor index and a copy of what it holds (``LiveIndex`` compares against it)."""

    index: VectorIndex
    indexed: IndexedVectors


@dataclass(frozen=True, slots=True)
class Prepared:
    """A retrain's output in serving form, built outside the engine's lock (``prepare``)."""

    version: str
    weights: BatchWeights
    factors: PreparedFactors | None
    index: FactorIndex | None
    # Content-predicted factors for items without behaviour: (item indices, [len, k]).
    placement: tuple[list[int], FloatArray] | None = None


def prepare(
    models: ModelSet,
    weights: BatchWeights,
    version: str,
    index: FactorIndex | None = None,
    placement: tuple[list[int], FloatArray] | None = None,
) -> Prepared:
    """Convert weights for serving without touching live state: the slow half of a swap.

    ``index`` (see ``factor_index``) serves factor candidates from the install on (None keeps
    the serving one, if any); ``placement`` gives evidence-less items content factors.
    """
    factors = None
    if weights.factors is not None:
        trained = weights.factors
        factors = models.factors.prepare(
            trained.item_factors, trained.trained, trained.user_gram, trained.users
        )
    return Prepared(version, weights, factors, index, placement)


def install(
    models: ModelSet,
    prepared: Prepared,
    since: EventBatch | None = None,
    background: bool = True,
) -> ModelSet:
    """Swap prepared weights into the live models; return the model set labelled with them.

    The models keep their per-user online state, so events that arrived while the weights
    were fitted fold in as usual: ``since`` holds them (None: the weights cover the whole
    log). Item rows that change later reach the factor index on a worker thread (inline if
    not ``background``). Takes milliseconds at 100k items: call it under the engine's lock.
    """
    if prepared.factors is not None:
        models.factors.install(prepared.factors, since)
        if prepared.index is not None:
            new = prepared.index
            models.factors.use_index(new.index, background, new.indexed)
        elif models.factors.index is not None:
            # A kept index follows the retrained rows; its worker skips those that barely
            # moved (the engine keeps it only when few did: ``_new_factor_index``).
            models.factors.index.changed(np.flatnonzero(prepared.factors.trained).tolist())
        if prepared.placement is not None:
            models.factors.set_content_factors(*prepared.placement)
    models.ease.set_weights(prepared.weights.ease)
    return dataclasses.replace(models, version=prepared.version)


def factor_index(config: EngineConfig, weights: BatchWeights, n_items: int) -> FactorIndex | None:
    """An inner-product ANN index over trained item factors, if answers will use candidates.

    Built before the weights are installed and outside the engine's lock: a graph over
    100k items takes seconds (``bench/candidates.py``).
    """
    if weights.factors is None or n_items < config.retrieval.candidates_from_items:
        return None
    factors, trained = weights.factors.item_factors, weights.factors.trained
    rows = np.flatnonzero(trained)
    wanted = config.retrieval
    settings = VectorIndexConfig(
        dim=factors.shape[1],
        metric="ip",
        ef_search=wanted.factor_ef_search,
        ef_construction=wanted.factor_ef_construction,
    )
    vectors = factors[rows].astype(np.float32)
    index = build_index(settings, rows, vectors)
    return FactorIndex(index, IndexedVectors.from_rows(rows, vectors))


def to_artifact(
    version: str, weights: BatchWeights, item_ids: list[str], n_factors: int
) -> ModelArtifact:
    """Package weights with the item ids of their rows, for saving (user vectors are not)."""
    n = max(
        len(weights.factors.item_factors) if weights.factors is not None else 0,
        len(weights.ease) if weights.ease is not None else 0,
    )
    item_factors = np.zeros((n, n_factors))
    trained = np.zeros(n, np.bool_)
    user_gram = np.zeros((n_factors, n_factors))
    if weights.factors is not None:
        rows = len(weights.factors.item_factors)
        item_factors[:rows] = weights.factors.item_factors
        trained[:rows] = weights.factors.trained
        user_gram = weights.factors.user_gram
    return ModelArtifact(
        version, weights.events, item_ids[:n], item_factors, trained, user_gram, weights.ease
    )


def from_artifact(
    config: EngineConfig, artifact: ModelArtifact, items: IdVocabulary, log: EventBatch
) -> BatchWeights:
    """Return a saved artifact's weights re-indexed onto the current item vocabulary.

    Users' vectors are solved against the saved factors from their positives in ``log`` (the
    whole log, read at start-up), so first answers need no fold-in solve each.
    """
    item_factors, trained, ease_weights = artifact.remap(items)
    factors = None
    if trained.any():
        users = als.solve_users_from_log(config.factors, log, item_factors, trained)
        factors = als.TrainedFactors(item_factors, trained, artifact.user_gram, users)
    return BatchWeights(artifact.trained_through, factors, ease_weights)
