"""The composition root: ingest -> durable log -> online state -> recommend.

This is the only place that wires store, state, models and scenarios together.

>>> with Engine.open(None) as engine:
...     written = engine.upsert_items([{"item_id": "a"}, {"item_id": "b"}])
...     result = engine.ingest([
...         {"user_id": "u1", "item_id": "a", "type": "click", "timestamp": 1},
...         {"user_id": "u1", "item_id": "b", "type": "click", "timestamp": 2},
...         {"user_id": "u2", "item_id": "a", "type": "click", "timestamp": 3},
...     ])
...     [r.item_id for r in engine.recommend("u2", n=5)]
['b']
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from freshrec import scenarios
from freshrec.config import EngineConfig
from freshrec.content.service import ContentService
from freshrec.errors import (
    OffsetNotReachedError,
    StoreError,
    ValidationError,
)
from freshrec.management.forget import Forgotten
from freshrec.management.paging import ItemPage
from freshrec.management.records import Records, Targets
from freshrec.measurement.answering import Answer, Answering
from freshrec.measurement.log import ListLog
from freshrec.measurement.service import Measurement
from freshrec.models import CoVisitation, Ease, ImplicitFactors, Trending
from freshrec.models.base import ScoringModel
from freshrec.models.modelset import ModelSet, PublishedModels
from freshrec.models.new_items import REFRESH_BUDGET_SECONDS
from freshrec.models.segments import SegmentTrending
from freshrec.pipelines import Pipelines
from freshrec.reading import Reader
from freshrec.retraining import MODEL_BLOB, Retrainer
from freshrec.rwlock import ReadWriteLock
from freshrec.sources import registry
from freshrec.state.fresh import FreshItems
from freshrec.state.online import OnlineState
from freshrec.store import MemoryStore, SqliteStore, Store
from freshrec.store.base import is_forgotten
from freshrec.store.lock import DirectoryLock
from freshrec.threads import limit_blas_threads
from freshrec.training import ModelArtifact
from freshrec.training.trainer import StepProgress
from freshrec.types import (
    Categories,
    Event,
    IngestResult,
    Item,
    Recommendation,
    User,
    check_id,
    parse_events,
)
from freshrec.upkeep import Upkeep
from freshrec.write_guard import WriteGuard

log = logging.getLogger(__name__)

DB_FILE = "freshrec.db"
MEASUREMENT_FILE = "measurement.db"
# Events of an ingest applied per hold of the write lock (a few ms: answers wait at most
# that long behind a bulk write; items: ``management.records.APPLY_CHUNK_ITEMS``).
APPLY_CHUNK_EVENTS = 256
# How long a read with ``at_least`` waits for an ingest in flight to apply its events.
OFFSET_WAIT_SECONDS = 1.0


class Engine:
    """A recommendation engine over one store. Thread-safe; use ``Engine.open``.

    Args:
        store: durable storage (the source of truth; state is rebuilt from it).
        config: settings; defaults when None.
        background_training: retrain on a background thread when ``retrain_every_events``
            new events arrived; False retrains inline (deterministic, used by replay).
        measurement_log: where served lists and experiments are kept (None: in memory).
        shared_lock: internal; the lock of the engine whose state this one rebuilds.
        shared_measurement: internal; that engine's measurement, kept as it is.
    """

    def __init__(
        self,
        store: Store,
        config: EngineConfig | None = None,
        background_training: bool = True,
        measurement_log: ListLog | None = None,
        *,
        shared_lock: ReadWriteLock | None = None,
        shared_measurement: Measurement | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self.store = store
        self._background = background_training
        wanted_measurement = self.config.measurement
        # A rebuilt state (``forget_user``) keeps the serving measurement: lists, shown
        # reports and experiments that arrive while it is built must not be lost.
        self._restore_measurement = shared_measurement is None
        self.measurement = shared_measurement or Measurement(
            wanted_measurement,
            measurement_log or ListLog(None, wanted_measurement.flush_seconds),
            self.config,
        )
        # Experiment-aware answers that are logged (``serve``; the HTTP route uses it too).
        self.answering = Answering(self, self.measurement)
        limit_blas_threads(self.config.serving.blas_threads)
        registry.check_names(self.config.blend.sources, "blend.sources")
        registry.check_names(
            self.config.scenarios.new_user_blend.sources, "scenarios.new_user_blend.sources"
        )
        # Answers share this lock; the one writer (ingest, upserts, the trainer's swap, the
        # encoder's placements, upkeep) takes it alone. Reads write nothing shared: what
        # they compute lazily lives in read-side caches with their own mutexes.
        # ``shared_lock``: a state rebuilt in place (``forget_user``) takes over this lock.
        self._lock = shared_lock or ReadWriteLock()
        self._append_lock = threading.Lock()  # orders log appends; see ``ingest``
        self._apply_lock = threading.Lock()  # one batch of events applies at a time, in order
        self.forgetting = False  # a ``forget_user`` runs: writes wait (HTTP answers 503)
        # Signalled whenever the applied log offset moves (reads with ``at_least`` wait on it).
        self._offset_moved = threading.Condition(threading.Lock())
        self._state = OnlineState(self.config)
        self._published = PublishedModels(
            ModelSet(
                CoVisitation(self.config.covisitation),
                Trending(self.config.trending),
                # Serving leaves a backlog of new items' fold-in to the upkeep worker; a replay
                # does it all on the next read, so its answers do not depend on timing.
                ImplicitFactors(
                    self.config.factors, REFRESH_BUDGET_SECONDS if background_training else None
                ),
                Ease(self.config.ease),
            )
        )
        self._weights = self.config.events.weights
        # New items' factor vectors, worked off between requests (serving engines only).
        self._upkeep = (
            Upkeep(self._lock.writing, self._upkeep_step) if background_training else None
        )
        self._guard = WriteGuard()  # closed or degraded engines refuse writes
        self._directory_lock: DirectoryLock | None = None  # set by ``open`` for a directory
        wanted = self.config.scenarios
        self._content = ContentService(
            self.config.content,
            background=background_training,
            # The encoder's results are posted back to the writer (the retrainer places them).
            on_text_vectors=lambda iidxs: self._retrainer.on_text_vectors(iidxs),
        )
        self._retrainer = Retrainer(
            self.config,
            store,
            self._state,
            self._content,
            self._lock,
            self._published,
            self._upkeep,
            self._upkeep_due,
            background_training,
        )
        self._pipelines = Pipelines(
            self.config,
            self._state,
            self._content,
            SegmentTrending(
                self.config.trending,
                wanted.segment_properties,
                wanted.segment_max_values_per_key,
                wanted.segment_min_users,
            ),
            FreshItems(wanted.fresh_max_events, wanted.fresh_max_age_seconds),
        )
        # The read side over these parts (and the lock as a reader).
        self._reader = Reader(
            self.config,
            self._state,
            self._published,
            self._pipelines,
            self._content,
            self._lock,
        )
        # Items and profiles; it asks for the current parts (a forget swaps them) under its
        # own locks or ours, never holding on to them.
        self._records = Records(
            self.store,
            lambda: Targets(self._state, self._content, self._pipelines),
            self._lock,
            self._guard,
        )
        self._restore()

    @property
    def _models(self) -> ModelSet:
        """The serving model set (``PublishedModels``: swapped whole by a retrain)."""
        return self._published.current

    # -- training (``Retrainer`` owns it) ------------------------------------------------------

    def train(self, progress: StepProgress | None = None) -> str:
        """Retrain the batch models on the whole log and swap them in; return the version.

        The fit runs on a snapshot of the log while answers keep flowing from the current
        weights; the new weights are then installed, and every event that arrived
        meanwhile folds in as usual. ``progress`` (``freshrec.training.trainer``) hears
        how far each step has come: item texts encoded, ALS sweeps, EASE.
        """
        return self._retrainer.train(progress)

    def encode_pending(self, progress: StepProgress | None = None) -> None:
        """Encode every item text still waiting for the language model, now (bulk imports)."""
        self._retrainer.encode_pending(progress)

    def wait_for_training(self, timeout: float | None = None) -> None:
        """Block until a background retrain (if running) has finished and is fully indexed."""
        self._retrainer.wait_for_training(timeout)

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path | None,
        config: EngineConfig | None = None,
        background_training: bool = True,
    ) -> Engine:
        """Open (or create) an engine whose store lives in directory ``path``.

        ``None`` keeps everything in memory. A directory is locked for this engine's life:
        one writer per directory.

        Raises:
            DataDirectoryInUseError: another process has the directory open.
            StoreError: the directory holds an unreadable store.
        """
        config = config or EngineConfig()
        if path is None:
            return cls(MemoryStore(), config, background_training)
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        # One writer per directory, for the engine's whole life (released by ``close``).
        lock = DirectoryLock.acquire(directory)
        measurement_log = None
        try:
            measurement_log = ListLog(
                directory / MEASUREMENT_FILE,
                config.measurement.flush_seconds,
                config.store.synchronous_full,
            )
            engine = cls(
                SqliteStore(directory / DB_FILE, config.store),
                config,
                background_training,
                measurement_log,
            )
        except BaseException:
            if measurement_log is not None:
                measurement_log.close()
            lock.release()
            raise
        engine._directory_lock = lock
        return engine

    def _restore(self) -> None:
        """Rebuild online state from the store, then install the saved model version."""
        items = list(self.store.iter_items())
        for item in items:  # indices first, so saved embeddings can be matched to them
            self._state.item_index(item.item_id)
        self._content.restore(self.store, self._state.items.get)
        self._records.apply_items(items)
        users = list(self.store.iter_users())
        self._records.apply_users(users)
        self._content.warm_stated(user.text for user in users)
        # Served lists are attributed again as the log passes them (merged by offset).
        measuring = self._restore_measurement
        if measuring:
            self.measurement.begin_restore()
        for batch in self.store.iter_events():
            for first_offset, events in _runs_between_holes(batch):
                self._state.pass_holes(first_offset - 1 - self._state.offset)
                self._apply_events(events)
                if measuring:
                    self.measurement.restore_events(first_offset, events)
        self._state.pass_holes(self.store.last_offset() - self._state.offset)
        if measuring:
            self.measurement.finish_restore()
        blob = self.store.get_blob(MODEL_BLOB)
        if blob is None:
            return
        try:
            artifact = ModelArtifact.from_bytes(blob)
        except StoreError:
            # The log is intact and is the source of truth: serve from online state and let
            # the next retrain write a fresh artifact instead of refusing to start.
            log.warning("saved model is damaged; serving online state until the next retrain")
            return
        self._retrainer.restore(artifact)
        # Before serving: new items' vectors now, not between the first requests.
        self._models.factors.refresh_all()
        live = self._models.factors.index
        if live is not None:
            # Content-placed items reach the factor index on its worker: let them all be in
            # before the engine serves (start-up waits for this, answers do not).
            live.wait_idle()

    def close(self) -> None:
        """Wait for a running retrain, then flush and close the store. Idempotent."""
        if self._guard.closed:
            return
        self._retrainer.close()
        if self._upkeep is not None:
            self._upkeep.close()
        self._models.factors.use_index(None)  # stops the index worker
        self._content.close()
        self.measurement.close()
        try:
            self._content.save(self.store, self._state.items.id_of)
        except StoreError:  # a full disk, say: embeddings are a cache, encoded again later
            log.warning("could not save text embeddings at close", exc_info=True)
        # No append or apply is half done.
        with self._append_lock, self._apply_lock, self._lock.writing():
            self._guard.closed = True
            self.store.close()
            if self._directory_lock is not None:
                self._directory_lock.release()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- catalogue and users (``management.records``) ------------------------------------------

    def upsert_items(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Validate and store items (all or none); return how many were written.

        Raises ``ValidationError`` naming the index and field of the first bad item.
        """
        return self._records.upsert_items(items)

    def list_bare_items(self, item_ids: Iterable[str]) -> int:
        """List each of ``item_ids`` that no upsert created yet as a bare item; return how many.

        For event-only data (a replay or an import without an item file), where the events
        are the catalogue: items already listed are left as they are.
        """
        return self._records.list_bare_items(item_ids)

    def unlisted_items(self, limit: int = 100) -> list[tuple[str, int]]:
        """Item ids met only in events, with their event counts, most events first.

        Events on such items are kept and counted, but the items are never recommended
        until an upsert creates them (``upsert_items``; an admin may also hide them).
        """
        return self._records.unlisted_items(limit)

    @property
    def unlisted_count(self) -> int:
        """How many item ids were met only in events (``unlisted_items`` lists them)."""
        return self._records.unlisted_count

    def hide_item(self, item_id: str) -> Item:
        """Hide an item from every answer (``available`` false), keeping its history.

        Works for a catalogue item and for an id met only in events (it is then listed as
        a bare, hidden item). Returns the item as stored; raises ``UnknownItemError`` for an
        id the engine has never met.
        """
        return self.patch_item(item_id, {"available": False})

    def patch_item(self, item_id: str, changes: Mapping[str, Any]) -> Item:
        """Change only the given fields of an item (JSON Merge Patch); return it as stored.

        An id met only in events is patched as a bare item (and so becomes listed).

        Raises:
            UnknownItemError: the engine has never met ``item_id``.
            ValidationError: the patch or the patched item is invalid (nothing changes).
        """
        return self._records.patch_item(item_id, changes)

    def list_items(
        self, cursor: str | None = None, limit: int = 100, available: bool | None = None
    ) -> ItemPage:
        """Page through the catalogue in ``item_id`` order; pass ``next_cursor`` back.

        ``available``: only recommendable (True) or hidden (False) items. Raises
        ``ValidationError`` for a bad ``cursor`` or ``limit`` outside [1, 1000].
        """
        return self._records.list_items(cursor, limit, available)

    def get_item(self, item_id: str) -> Item:
        """Return a stored item; raises ``UnknownItemError``."""
        return self._records.get_item(item_id)

    def upsert_users(self, users: Iterable[Mapping[str, Any]]) -> int:
        """Validate and store user profiles (all or none); return how many were written."""
        return self._records.upsert_users(users)

    def get_user(self, user_id: str) -> User | None:
        """Return a stored user profile, or None."""
        return self._records.get_user(user_id)

    def patch_user(self, user_id: str, changes: Mapping[str, Any]) -> User:
        """Change only the given fields of a profile (JSON Merge Patch); return it as stored.

        A user known only from events gets a profile made from the patch.

        Raises:
            NotFoundError: no profile and no event names ``user_id``.
            ValidationError: the patch or the patched profile is invalid (nothing changes).
        """
        return self._records.patch_user(user_id, changes)

    def user_event_count(self, user_id: str) -> int:
        """How many of the user's events the online state holds (0 for an unknown user)."""
        return self._records.user_event_count(user_id)

    def user_events(self, user_id: str, limit: int = 100) -> list[tuple[int, Event]]:
        """Return up to ``limit`` of the user's logged ``(offset, event)``, newest first."""
        return self._records.user_events(user_id, limit)

    def forget_user(self, user_id: str) -> Forgotten:
        """Forget a user, as data-protection law asks; return what was erased.

        Their profile is deleted; their events are erased from the log (each leaves a hole
        that keeps its offset, so no other offset moves) and their served lists from the
        measurement log; the online state and the models' online parts are built again
        from the log, so nothing learnt from the user stays (their next answer is a new
        user's). The saved model's item weights still hold what they learnt from the user
        until the next training run, which fits from scratch (also after a restart) on the
        log without them. The measurement forgets the user's lists, experiment sums and
        covariate; its aggregate counters keep their anonymous share until a restart.
        Unknown users are not an error: nothing is erased.

        Writes wait while the state is rebuilt (about as long as opening the engine);
        answers keep coming from the state before and switch to the new one whole.

        Raises:
            StoreUnavailableError: the store could not commit; nothing was erased.
            EngineDegradedError: the log was rewritten but the rebuild failed; writes are
                refused until a restart, which rebuilds without the user.
            StoreError: the measurement log could not delete the user's lists; the rest is
                done, and calling again finishes it.
        """
        check_id(user_id, "user_id")
        self._guard.check()
        records = self._records
        with self._append_lock, self._apply_lock, records.catalogue_lock, records.profile_lock:
            self._guard.check()
            self.forgetting = True
            try:
                had_profile = self.store.get_user(user_id) is not None
                if not had_profile and self.user_event_count(user_id) == 0:
                    # Nothing of the user in the log or the state: no rebuild, no cold fit
                    # (their served lists, if any, still go below).
                    lists = self.measurement.forget_user(user_id)
                    return Forgotten(user_id, False, 0, lists)
                events = self.store.forget_user(user_id)  # durable from here on
                with self._guard.applying_committed("a forgotten user"):
                    # A fit in flight finishes (and saves) first; the rebuilt state loads it.
                    self._retrainer.retire()
                    self._retrainer.start_cold()  # a warm start would carry the user
                    self._rebuild_from_store()
            finally:
                self.forgetting = False
        with self._offset_moved:
            self._offset_moved.notify_all()
        # After the swap: lists the old state served the user meanwhile are deleted too.
        lists = self.measurement.forget_user(user_id)
        return Forgotten(user_id, had_profile, events, lists)

    def _rebuild_from_store(self) -> None:
        """Build the state and models again from the log; swap them in whole.

        The new state is built as a second engine over the same store, lock and
        measurement (answers go on from the serving state meanwhile); its parts then
        replace this engine's under the write lock, and the old parts' workers are stopped.
        """
        try:  # encoded texts are a cache: saved, the rebuild need not encode them again
            self._content.save(self.store, self._state.items.id_of)
        except StoreError:
            log.warning("could not save text embeddings before a rebuild", exc_info=True)
        fresh = Engine(
            self.store,
            self.config,
            self._background,
            shared_lock=self._lock,
            shared_measurement=self.measurement,
        )
        old_retrainer, old_upkeep = self._retrainer, self._upkeep
        old_factors, old_content = self._models.factors, self._content
        with self._lock.writing():
            # Cached answers are keyed on this version: it must not come back.
            fresh._state.catalogue_version += self._state.catalogue_version + 1
            for name in _REBUILT_PARTS:
                setattr(self, name, getattr(fresh, name))
        old_retrainer.close()
        if old_upkeep is not None:
            old_upkeep.close()
        old_factors.use_index(None)  # stops the old index worker
        old_content.close()

    # -- events -------------------------------------------------------------------------------

    def ingest(self, events: Iterable[Mapping[str, Any]], atomic: bool = False) -> IngestResult:
        """Validate, durably append and apply events; return counts and per-index errors.

        Bad events are reported as ``(index, message)`` and the valid ones kept, unless
        ``atomic`` is set, in which case one bad event rejects the batch (nothing stored) and
        ``ValidationError`` is raised. When this returns, accepted events survive a crash and
        the next recommendation for their users reflects them.
        """
        self._guard.check()
        valid, errors = parse_events(events, self._weights, time.time())
        if errors and atomic:
            index, exc = errors[0]
            raise ValidationError(f"event {index}: {exc.message}", exc.field)
        result = IngestResult(errors=[(index, str(exc)) for index, exc in errors])
        if not valid:
            result.offset = self.applied_offset
            return result
        # The durable append (SQLite work and an fsync, outside the GIL) runs under its own
        # lock, so one batch's append overlaps the previous batch's apply; the apply lock is
        # taken before the append lock is let go, so batches apply in log order. The apply
        # holds the engine's write lock one chunk at a time: answers get in between chunks
        # (a 2,000-event batch held it ~40 ms), other writers too, never another batch.
        with self._append_lock:
            self._guard.check()  # again: ``close`` takes this lock
            fresh = self.store.append_events(valid)  # StoreUnavailableError: nothing written
            self._apply_lock.acquire()
        try:
            new_events = (
                valid if all(fresh) else [e for e, f in zip(valid, fresh, strict=True) if f]
            )
            for start in range(0, len(new_events), APPLY_CHUNK_EVENTS):
                chunk = new_events[start : start + APPLY_CHUNK_EVENTS]
                # Growth copies (the log's columns, the pair arena) off the write lock:
                # only this writer changes them, readers read the old arrays meanwhile.
                self._state.columns.reserve(len(chunk))
                self._models.covisitation.make_room(len(chunk))
                with self._lock.writing(), self._guard.applying_committed("events"):
                    self._apply_events(chunk)
            result.offset = self._state.offset
            # Attribution to served lists, in log order (the measurement's own lock only).
            self.measurement.on_events(result.offset - len(new_events) + 1, new_events)
        finally:
            self._apply_lock.release()
        with self._offset_moved:
            self._offset_moved.notify_all()
        result.accepted = len(new_events)
        result.duplicates = len(valid) - len(new_events)
        self._retrainer.maybe_retrain()
        return result

    @property
    def applied_offset(self) -> int:
        """The log offset the engine's state reflects: how many events it has applied."""
        return self._state.offset  # one int read: no lock needed

    def wait_for_offset(self, at_least: int, timeout: float = OFFSET_WAIT_SECONDS) -> int:
        """Block until the state reflects log offset ``at_least``; return the applied offset.

        An ``ingest`` applies its events before it returns, so an offset it returned is
        reached at once; a larger one may belong to an ingest still applying. Raises
        ``OffsetNotReachedError`` (field ``at_least``) if it is not reached in ``timeout``.
        """
        if isinstance(at_least, bool) or not isinstance(at_least, int) or at_least < 0:
            raise ValidationError("must be a non-negative integer", "at_least")
        with self._offset_moved:
            reached = self._offset_moved.wait_for(
                lambda: self.applied_offset >= at_least or self._guard.closed, timeout
            )
        if not reached or self.applied_offset < at_least:
            raise OffsetNotReachedError(at_least, self.applied_offset)
        return self.applied_offset

    @property
    def degraded(self) -> str | None:
        """Why writes are refused (committed data failed to apply in memory), or None."""
        return self._guard.degraded

    def _apply_events(self, events: Sequence[Event]) -> None:
        """Update every piece of online state with already-durable events (log order)."""
        if not events:
            return
        known_users = len(self._state.users)
        batch = self._state.index_events(events)
        pipelines = self._pipelines
        if len(self._state.users) > known_users:
            pipelines.on_new_users(known_users)
        for model in self._online_models():
            model.partial_fit(batch)
        pipelines.segments.partial_fit(batch)
        pipelines.fresh.add(batch)
        self._upkeep_due()

    def _upkeep_due(self) -> None:
        """Wake the upkeep worker if more new items wait for vectors than a read would do."""
        if self._upkeep is not None and self._models.factors.backlog > 0:
            self._upkeep.poke()

    def _upkeep_step(self) -> bool:
        """One slice of upkeep (under the lock); True while more remains."""
        more = self._models.factors.refresh()
        if not more:
            # Answers cached while a backlog of new items had no vectors yet (reads leave a
            # backlog to this worker) are not kept past it.
            self._state.catalogue_version += 1
        return more

    def _online_models(self) -> list[ScoringModel]:
        """Models whose per-event state is read somewhere (zero-weight sources are skipped)."""
        models, blend = self._models, self.config.blend
        chosen: list[ScoringModel] = [models.covisitation, models.trending]
        if blend.factors > 0:
            chosen.append(models.factors)
        if blend.ease > 0:
            chosen.append(models.ease)
        return chosen

    # -- answers (``Reader`` computes them) ---------------------------------------------------

    def recommend(
        self,
        user_id: str,
        n: int = 10,
        scenario: str = scenarios.HOME,
        exclude: Iterable[str] | None = None,
        category: Categories = None,
        explain: bool = True,
        at_least: int | None = None,
        answer_config: EngineConfig | None = None,
    ) -> list[Recommendation]:
        """Return up to ``n`` items for the user, best first, with scores and reasons.

        Items the user interacted with, rejected, or that are unavailable or in ``exclude``
        never appear; ``category`` restricts the answer to one category, or to any of
        several. A user without history gets what is trending (in the category, when given).
        ``at_least``: answer from a state that reflects at least this log offset
        (``IngestResult.offset``). ``answer_config``: answer with these settings' blend,
        retrieval and scenario settings instead of the engine's (an experiment's variant;
        the state is the engine's).

        Raises:
            ValidationError: bad ``user_id`` or ``n`` outside [1, 1000].
            UnknownScenarioError: ``scenario`` is not configured.
            OffsetNotReachedError: ``at_least`` was not applied within a second.
        """
        if at_least is not None:
            self.wait_for_offset(at_least)
        return self._reader.recommend(
            user_id, n, scenario, exclude, category, explain, answer_config
        )

    def recommend_ids(
        self,
        user_id: str,
        n: int = 10,
        scenario: str = scenarios.HOME,
        exclude: Iterable[str] | None = None,
        category: Categories = None,
        at_least: int | None = None,
    ) -> list[str]:
        """Return the item ids ``recommend`` would return, best first, and nothing else.

        The same scoring and filtering without scores and reasons: the cheap question that a
        replay or an offline evaluation asks thousands of times. Raises as ``recommend``.
        """
        if at_least is not None:
            self.wait_for_offset(at_least)
        return self._reader.recommend_ids(user_id, n, scenario, exclude, category)

    def serve(
        self,
        user_id: str,
        n: int = 10,
        scenario: str = scenarios.HOME,
        exclude: Iterable[str] | None = None,
        category: Categories = None,
        at: float | None = None,
    ) -> Answer:
        """Answer as ``recommend`` does, and log the list for measurement; return it whole.

        The answer has a new ``recommendation_id`` (send it back with the events it leads
        to), the ``variant`` of the running experiment over ``scenario`` that answered
        (None outside experiments) and the ``model_version``. ``at``: the serving time in
        unix seconds (default now; a simulator passes its clock). Raises as ``recommend``.
        """
        return self.answering.serve(user_id, n, scenario, exclude, category, at)

    @property
    def model_version(self) -> str:
        """The serving model version."""
        return self._models.version

    def similar(
        self, item_id: str, n: int = 10, exclude: Iterable[str] | None = None
    ) -> list[Recommendation]:
        """Return up to ``n`` items similar to ``item_id`` (never itself), best first.

        Raises ``UnknownItemError`` for an item the engine has never seen.
        """
        return self._reader.similar(item_id, n, exclude)

    def rank(self, user_id: str, item_ids: Sequence[str]) -> list[Recommendation]:
        """Score the given candidates for the user; return them all, best first.

        Unknown candidates score 0 and keep their relative order at the end. Seen items are
        not filtered: the caller chose the candidates.
        """
        return self._reader.rank(user_id, item_ids)

    def search(
        self,
        text: str,
        n: int = 10,
        user_id: str | None = None,
        category: Categories = None,
    ) -> list[Recommendation]:
        """Return up to ``n`` items whose content matches ``text`` ("items like: ..."), best first.

        The language model reads the query as it reads item texts (keywords alone when no
        model is configured). With ``user_id`` the user's seen and rejected items are left
        out. Raises ``ValidationError`` for an empty or over-long ``text``, a bad ``n``,
        ``user_id`` or ``category``.
        """
        return self._reader.search(text, n, user_id, category)

    # -- introspection ------------------------------------------------------------------------

    def freshness(self, user_id: str) -> tuple[int, int, str]:
        """Return what a cached answer for ``user_id`` depends on (see ``Reader.freshness``).

        ``(the user's event count, catalogue version, model version)``.
        """
        return self._reader.freshness(user_id)

    def stats(self) -> dict[str, Any]:
        """Return counts and the serving model version."""
        # Store counts first, off the lock: a COUNT(*) may wait behind an fsync.
        catalogue_items, user_profiles = self.store.count_items(), self.store.count_users()
        with self._lock.reading():
            state = self._state
            return {
                "events": len(state.columns),
                "users": len(state.users),
                "items": len(state.items),
                "catalogue_items": catalogue_items,
                # Ids met only in events: counted, never recommended (see ``unlisted_items``).
                "unlisted_items": state.catalog.unlisted_count,
                "user_profiles": user_profiles,
                "model_version": self._models.version,
                "trained_through_events": self._retrainer.trained_through,
                "training": self._retrainer.running,
                "new_items_waiting": self._models.factors.backlog,
                "content": self._content.stats(),
            }

    def history(self, user_id: str) -> list[str]:
        """Return the user's recent item ids, oldest first (empty for unknown users)."""
        return self._reader.history(user_id)


# What ``_rebuild_from_store`` takes over from the engine it builds: everything the event
# log decides. The store, the settings, the locks and the measurement (and ``answering``
# over it) stay.
_REBUILT_PARTS = (
    "_reader",
    "_state",
    "_published",
    "_upkeep",
    "_content",
    "_retrainer",
    "_pipelines",
)


def _runs_between_holes(batch: Sequence[tuple[int, Event]]) -> Iterator[tuple[int, list[Event]]]:
    """Split a log batch into runs of consecutive live events: ``(first offset, events)``.

    Forgotten events (``store.base.FORGOTTEN``) leave holes that take an offset but are not
    applied; each run starts after one.
    """
    first, run = 0, list[Event]()
    for offset, event in batch:
        if is_forgotten(event):
            if run:
                yield first, run
            run = []
            continue
        if not run:
            first = offset
        run.append(event)
    if run:
        yield first, run
