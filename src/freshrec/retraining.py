"""Retraining an engine: when to retrain, the fit and the swap, and content placement.

``Retrainer`` owns what training needs to remember (what was trained through, when the
factor index was built, the background thread) and is handed the rest: the engine's state,
store, content service and lock, and ``PublishedModels``, the one reference a retrain
swaps. The fit runs off the lock; its result is posted back under the write lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from freshrec.config import EngineConfig
from freshrec.content.service import ContentService
from freshrec.models.modelset import ModelSet, PublishedModels
from freshrec.rwlock import ReadWriteLock
from freshrec.state.online import OnlineState
from freshrec.store import Store
from freshrec.training import BackgroundTrainer, ModelArtifact, fit_batch_models
from freshrec.training.install import (
    FactorIndex,
    factor_index,
    from_artifact,
    install,
    prepare,
    to_artifact,
)
from freshrec.training.trainer import ENCODING_STEP, BatchWeights, StepProgress
from freshrec.types import EventBatch, FloatArray
from freshrec.upkeep import Upkeep

MODEL_BLOB = "model/current"
# b"1" while the next fit must start from scratch (``start_cold``); kept across restarts.
COLD_BLOB = "model/cold-next"
# How many times the log was rewritten by a forget (decimal): part of version names.
FORGETS_BLOB = "model/forgets"


class Retrainer:
    """``Engine.train`` and what surrounds it: when, the fit, the swap, content placement.

    Args:
        config: the engine's settings.
        store: where the artifact is saved.
        state: the engine's online state (the log's columns are the training data).
        content: places items without behaviour in factor space.
        lock: the engine's lock (the snapshot and the swap take it as the writer).
        models: the published model set; a retrain swaps its reference.
        upkeep: the engine's upkeep worker (None: inline), waited for by ``wait_for_training``.
        upkeep_due: called after a swap (new items since the snapshot need vectors).
        background: retrain on a thread when due; False retrains inline (replays).
    """

    def __init__(
        self,
        config: EngineConfig,
        store: Store,
        state: OnlineState,
        content: ContentService,
        lock: ReadWriteLock,
        models: PublishedModels,
        upkeep: Upkeep | None,
        upkeep_due: Callable[[], None],
        background: bool,
    ) -> None:
        self.config = config
        self.store = store
        self._state = state
        self._content = content
        self._lock = lock
        self._published = models
        self._upkeep = upkeep
        self._upkeep_due = upkeep_due
        self._background = background
        self._train_lock = threading.Lock()
        self._trainer = BackgroundTrainer(self.train)
        self.trained_through = 0
        self._retrain_requested_at = -float("inf")
        self._factor_index_built_at = -float("inf")
        self._encoded_while_training: list[int] | None = None  # a list while ``train`` fits
        # Set when the serving weights learnt from data since erased (``forget_user``): the
        # next fit starts from scratch, since a warm start would carry what they learnt.
        self._cold_next = store.get_blob(COLD_BLOB) == b"1"
        self._forgets = int(store.get_blob(FORGETS_BLOB) or b"0")
        self._retired = False  # replaced by a rebuilt one: never fits or saves again

    def start_cold(self) -> None:
        """Make the next retrain fit from scratch (durably: a restart keeps it so).

        Called when the log was rewritten (``forget_user``): that also counts towards the
        version names, since the log offset alone no longer tells two models apart.
        """
        self._forgets += 1
        self.store.put_blob(FORGETS_BLOB, str(self._forgets).encode())
        self.store.put_blob(COLD_BLOB, b"1")
        self._cold_next = True

    def retire(self) -> None:
        """Wait for a fit in flight, then never fit or save again (the state was rebuilt)."""
        with self._train_lock:
            self._retired = True

    @property
    def _models(self) -> ModelSet:
        return self._published.current

    @property
    def running(self) -> bool:
        """Whether a background retrain runs now."""
        return self._trainer.running

    def close(self) -> None:
        """Wait for a running retrain."""
        self._trainer.wait()

    def restore(self, artifact: ModelArtifact) -> None:
        """Install a saved model version at start-up (after the log was applied)."""
        state = self._state
        log_events = state.columns.slice(0, len(state.columns))
        weights = from_artifact(self.config, artifact, state.items, log_events)
        index = self._new_factor_index(weights, warm=False)
        prepared = prepare(self._models, weights, artifact.version, index)
        self._published.current = install(self._models, prepared, background=self._background)
        self.trained_through = weights.events
        self._place_by_content(refit=True)

    def maybe_retrain(self) -> None:
        """Retrain (inline, or on the background thread) when enough new events arrived."""
        every = self.config.training.retrain_every_events
        logged = len(self._state.columns)
        if self._retired or every <= 0 or logged - self.trained_through < every:
            return
        if logged < self.config.training.min_events:
            return
        if not self._background:
            self.train()
            return
        now = time.monotonic()
        if now - self._retrain_requested_at < self.config.training.min_interval_seconds:
            return
        if self._trainer.request():
            self._retrain_requested_at = now

    def train(self, progress: StepProgress | None = None) -> str:
        """Retrain the batch models on the whole log and swap them in; return the version.

        The fit runs on a snapshot of the log while answers keep flowing from the current
        weights; the new weights are then installed into the live models, whose per-user
        state already holds every event that arrived meanwhile (those fold in as usual).
        ``progress`` hears of the item texts encoded first and of the fit's steps.
        """
        # Outside the engine lock: the encoder's callback takes it.
        self._content.flush(self._encoding_progress(progress))
        with self._train_lock:
            if self._retired:  # a forget rebuilt the state meanwhile: its retrainer fits
                return self._models.version
            with self._lock.writing():
                seen = len(self._state.columns)
                # Named by the log offset, which never goes back (a forget lowers the
                # column count, so ``v{columns}`` could name two different models), and
                # by the forgets so far (a forget rewrites the log at the same offset).
                version = f"v{self._state.offset}"
                if self._forgets:
                    version += f"f{self._forgets}"
                events = self._state.columns.slice(0, seen)
                factors = self._models.factors
                warm = factors.fitted and not self._cold_next
                previous = factors.trained_state()[0] if warm else None
                self._encoded_while_training = []
            try:
                self._fit_and_swap(version, seen, events, previous, progress)
                if self._cold_next:
                    self.store.put_blob(COLD_BLOB, b"0")
                    self._cold_next = False
                return version
            finally:  # a failed fit must not leave the list growing until the next one
                with self._lock.writing():
                    self._encoded_while_training = None

    @staticmethod
    def _encoding_progress(progress: StepProgress | None) -> Callable[[int, int], None] | None:
        if progress is None:
            return None

        def encoded(done: int, total: int) -> None:
            progress(ENCODING_STEP, done, total)

        return encoded

    def _fit_and_swap(
        self,
        version: str,
        seen: int,
        events: EventBatch,
        previous: FloatArray | None,
        progress: StepProgress | None = None,
    ) -> None:
        """``train`` after its snapshot: fit and prepare off the lock, then swap under it."""
        weights = fit_batch_models(self.config, events, previous, progress)
        warm = previous is not None and self.config.factors.warm_start_iterations > 0
        index = self._new_factor_index(weights, warm)
        placement = None
        if self.config.blend.factors > 0 and weights.factors is not None:
            # The content -> factors mapping and its predictions come from the new weights
            # here, off the lock: at 100k items they took ~1.6 s, all of it holding up
            # every answer and ingest.
            trained = weights.factors
            self._content.fit_mapping(trained.item_factors, trained.trained)
            placement = self._content.placement(trained.trained, len(self._state.items))
        prepared = prepare(self._models, weights, version, index, placement)
        with self._lock.writing():
            since = self._state.columns.slice(seen, len(self._state.columns))
            self._published.current = install(self._models, prepared, since, self._background)
            self.trained_through = weights.events
            self._upkeep_due()  # items new since the snapshot get vectors in the new space
            # Items encoded after ``placement`` was computed were placed in the old factor
            # rows: place them again in the new ones.
            late, self._encoded_while_training = self._encoded_while_training, None
            if late:
                self._place_by_content(refit=False, only=late)
            item_ids = self._state.items.ids()
        artifact = to_artifact(version, weights, item_ids, self.config.factors.factors)
        self.store.put_blob(MODEL_BLOB, artifact.to_bytes())
        self._content.save(self.store, self._state.items.id_of)

    def _new_factor_index(self, weights: BatchWeights, warm: bool) -> FactorIndex | None:
        """A new factor index for these weights, or None to keep the one serving.

        Built (seconds at 100k items, outside the lock) when none serves yet, after a fit
        from scratch (a new factor space), when the serving one is older than
        ``retrieval.factor_index_rebuild_seconds``, and when the fit moved more than
        ``retrieval.factor_index_rebuild_share`` of the trained items (following them one
        by one would cost more than a new index, and hold up searches meanwhile).
        """
        now = time.monotonic()
        if warm and self._factor_index_still_fits(weights, now):
            return None
        index = factor_index(self.config, weights, len(self._state.items))
        if index is not None:
            self._factor_index_built_at = now
        return index

    def _factor_index_still_fits(self, weights: BatchWeights, now: float) -> bool:
        """Whether the serving factor index is young and close enough to these weights."""
        wanted = self.config.retrieval
        current = self._models.factors.index
        if current is None or weights.factors is None:
            return False
        if now - self._factor_index_built_at >= wanted.factor_index_rebuild_seconds:
            return False
        trained = np.flatnonzero(weights.factors.trained)
        moved = current.drift(trained, weights.factors.item_factors[trained])
        return moved <= wanted.factor_index_rebuild_share

    def on_text_vectors(self, iidxs: list[int]) -> None:
        """New text embeddings: place those items in factor space; answers may change."""
        with self._lock.writing():
            self._place_by_content(refit=False, only=iidxs)
            if self._encoded_while_training is not None:
                self._encoded_while_training.extend(iidxs)
            self._state.catalogue_version += 1

    def _place_by_content(self, refit: bool, only: Sequence[int] | None = None) -> None:
        """Give items without behaviour content-predicted factors (item cold start)."""
        if self.config.blend.factors > 0:
            self._content.place(self._models.factors, len(self._state.items), refit, only)

    def encode_pending(self, progress: StepProgress | None = None) -> None:
        """Encode every item text still waiting for the language model, now (bulk imports).

        Texts are otherwise encoded on a worker thread shortly after their upsert.
        """
        self._content.flush(self._encoding_progress(progress))

    def wait_for_training(self, timeout: float | None = None) -> None:
        """Block until a background retrain (if running) has finished and is fully indexed.

        Also waits for new items' factor vectors (the upkeep worker) and the factor index:
        what a test or a replay needs before comparing answers.
        """
        self._trainer.wait(timeout)
        if self._upkeep is not None:  # new items' vectors in the new factor space
            self._upkeep.wait_idle(timeout)
        index = self._models.factors.index
        if index is not None:
            index.wait_idle(timeout)
