"""The composition root: ingest -> durable log -> online state -> recommend.

This is the only place that wires store, state, models and scenarios together.

>>> with Engine.open(None) as engine:
...     result = engine.ingest([
...         {"user_id": "u1", "item_id": "a", "type": "click", "timestamp": 1},
...         {"user_id": "u1", "item_id": "b", "type": "click", "timestamp": 2},
...         {"user_id": "u2", "item_id": "a", "type": "click", "timestamp": 3},
...     ])
...     [r.item_id for r in engine.recommend("u2", n=5)]
['b']
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from freshrec import scenarios
from freshrec.config import EngineConfig
from freshrec.errors import StoreError, UnknownItemError, UnknownScenarioError, ValidationError
from freshrec.models import CoVisitation, Ease, ImplicitFactors, Trending
from freshrec.models.base import EventBatch, ScoringModel
from freshrec.retrieval import top_n
from freshrec.scenarios import Blend, ModelSet
from freshrec.state import IdVocabulary, UserHistories
from freshrec.state.catalog import CatalogIndex
from freshrec.state.columns import EventColumns
from freshrec.store import MemoryStore, SqliteStore, Store
from freshrec.training import BackgroundTrainer, BatchWeights, ModelArtifact, fit_batch_models
from freshrec.types import (
    Event,
    IngestResult,
    Item,
    Recommendation,
    User,
    check_id,
    parse_event,
    parse_item,
    parse_user,
)

log = logging.getLogger(__name__)

DB_FILE = "freshrec.db"
MODEL_BLOB = "model/current"
MAX_N = 1_000


class Engine:
    """A recommendation engine over one store. Thread-safe; use ``Engine.open``.

    Args:
        store: durable storage (the source of truth; state is rebuilt from it).
        config: settings; defaults when None.
        background_training: retrain on a background thread when ``retrain_every_events``
            new events arrived; False retrains inline (deterministic, used by replay).
    """

    def __init__(
        self,
        store: Store,
        config: EngineConfig | None = None,
        background_training: bool = True,
    ) -> None:
        self.config = config or EngineConfig()
        self.store = store
        self._lock = threading.RLock()
        self._users = IdVocabulary()
        self._items = IdVocabulary()
        self._catalog = CatalogIndex()
        self._histories = UserHistories(self.config.history.max_recent_events)
        self._columns = EventColumns()
        self._models = ModelSet(
            CoVisitation(self.config.covisitation),
            Trending(self.config.trending),
            ImplicitFactors(self.config.factors),
            Ease(self.config.ease),
        )
        self._weights = self.config.events.weights
        self._catalogue_version = 0
        self._trained_through = 0
        self._train_lock = threading.Lock()
        self._background = background_training
        self._trainer = BackgroundTrainer(self.train)
        self._closed = False
        self._restore()

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path | None,
        config: EngineConfig | None = None,
        background_training: bool = True,
    ) -> Engine:
        """Open (or create) an engine whose store lives in directory ``path``.

        ``None`` keeps everything in memory. Raises ``StoreError`` if the directory holds an
        unreadable store.
        """
        config = config or EngineConfig()
        if path is None:
            store: Store = MemoryStore()
        else:
            directory = Path(path)
            directory.mkdir(parents=True, exist_ok=True)
            store = SqliteStore(directory / DB_FILE, config.store)
        return cls(store, config, background_training)

    def _restore(self) -> None:
        """Rebuild online state from the store, then install the saved model version."""
        self._apply_items(list(self.store.iter_items()))
        for batch in self.store.iter_events():
            self._apply_events([event for _, event in batch])
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
        self._install(artifact)

    def close(self) -> None:
        """Wait for a running retrain, then flush and close the store. Idempotent."""
        if self._closed:
            return
        self._trainer.wait()
        with self._lock:
            self._closed = True
            self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- catalogue and users ------------------------------------------------------------------

    def upsert_items(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Validate and store items (all or none); return how many were written.

        Raises ``ValidationError`` naming the index and field of the first bad item.
        """
        parsed = _parse_all(items, parse_item, "items")
        self.store.upsert_items(parsed)
        with self._lock:
            self._apply_items(parsed)
        return len(parsed)

    def _apply_items(self, items: Sequence[Item]) -> None:
        for item in items:
            iidx = self._item_index(item.item_id)
            self._catalog.update(iidx, item)
        self._catalogue_version += 1

    def _item_index(self, item_id: str) -> int:
        iidx = self._items.add(item_id)
        self._catalog.add(iidx, item_id)
        return iidx

    def get_item(self, item_id: str) -> Item:
        """Return a stored item; raises ``UnknownItemError``."""
        item = self.store.get_item(check_id(item_id, "item_id"))
        if item is None:
            raise UnknownItemError(item_id)
        return item

    def upsert_users(self, users: Iterable[Mapping[str, Any]]) -> int:
        """Validate and store user profiles (all or none); return how many were written."""
        parsed = _parse_all(users, parse_user, "users")
        self.store.upsert_users(parsed)
        return len(parsed)

    def get_user(self, user_id: str) -> User | None:
        """Return a stored user profile, or None."""
        return self.store.get_user(check_id(user_id, "user_id"))

    # -- events -------------------------------------------------------------------------------

    def ingest(self, events: Iterable[Mapping[str, Any]], atomic: bool = False) -> IngestResult:
        """Validate, durably append and apply events; return counts and per-index errors.

        Bad events are reported as ``(index, message)`` and the valid ones kept, unless
        ``atomic`` is set, in which case one bad event rejects the batch (nothing stored) and
        ``ValidationError`` is raised. When this returns, accepted events survive a crash and
        the next recommendation for their users reflects them.
        """
        result = IngestResult()
        valid: list[Event] = []
        now = time.time()
        for index, raw in enumerate(events):
            try:
                valid.append(parse_event(raw, self._weights, now))
            except ValidationError as exc:
                if atomic:
                    raise ValidationError(f"event {index}: {exc.message}", exc.field) from None
                result.errors.append((index, str(exc)))
        if not valid:
            return result
        with self._lock:
            fresh = self.store.append_events(valid)
            new_events = [e for e, is_new in zip(valid, fresh, strict=True) if is_new]
            self._apply_events(new_events)
        result.accepted = len(new_events)
        result.duplicates = len(valid) - len(new_events)
        self._maybe_retrain()
        return result

    def _apply_events(self, events: Sequence[Event]) -> None:
        """Update every piece of online state with already-durable events (log order)."""
        if not events:
            return
        users, items, kinds, stamps, positives = [], [], [], [], []
        weights, is_positive, record = (
            self._weights,
            self.config.is_positive,
            self._histories.record,
        )
        for e in events:
            uidx = self._users.add(e.user_id)
            iidx = self._item_index(e.item_id)
            weight = weights[e.type]
            positive = weight > 0 and is_positive(e.type, e.value)
            record(uidx, iidx, e.timestamp, weight, positive)
            users.append(uidx)
            items.append(iidx)
            kinds.append(weight)
            stamps.append(e.timestamp)
            positives.append(positive)
        batch = EventBatch(
            np.array(users, dtype=np.int64),
            np.array(items, dtype=np.int64),
            np.array(kinds, dtype=np.float64),
            np.array(stamps, dtype=np.float64),
            np.array(positives, dtype=np.bool_),
        )
        self._columns.append(batch)
        for model in self._online_models():
            model.partial_fit(batch)

    def _online_models(self) -> list[ScoringModel]:
        """Models whose per-event state is read somewhere (zero-weight sources are skipped)."""
        models, blend = self._models, self.config.blend
        chosen: list[ScoringModel] = [models.covisitation, models.trending]
        if blend.factors > 0:
            chosen.append(models.factors)
        if blend.ease > 0:
            chosen.append(models.ease)
        return chosen

    # -- training -----------------------------------------------------------------------------

    def _maybe_retrain(self) -> None:
        every = self.config.training.retrain_every_events
        pending = len(self._columns) - self._trained_through
        if every <= 0 or pending < every or len(self._columns) < self.config.training.min_events:
            return
        if self._background:
            self._trainer.request()
        else:
            self.train()

    def train(self) -> str:
        """Retrain the batch models on the whole log and swap them in; return the version.

        The fit runs on a snapshot of the log while answers keep flowing from the current
        weights; the new weights are then installed into the live models, whose per-user
        state already holds every event that arrived meanwhile (those fold in as usual).
        """
        with self._train_lock:
            with self._lock:
                seen = len(self._columns)
                events = self._columns.slice(0, seen)
                models = self._models
                previous = models.factors.trained_state()[0] if models.factors.fitted else None
            weights = fit_batch_models(self.config, events, previous)
            version = f"v{seen}"
            with self._lock:
                self._install_weights(weights, version)
                item_ids = self._items.ids()
            self._save(version, weights, item_ids)
            return version

    def _install_weights(self, weights: BatchWeights, version: str) -> None:
        models = self._models
        if weights.factors is not None:
            models.factors.set_item_factors(*weights.factors)
        models.ease.set_weights(weights.ease)
        self._models = dataclasses.replace(models, version=version)
        self._trained_through = weights.events

    def _save(self, version: str, weights: BatchWeights, item_ids: list[str]) -> None:
        k = self.config.factors.factors
        n = max(
            len(weights.factors[0]) if weights.factors is not None else 0,
            len(weights.ease) if weights.ease is not None else 0,
        )
        item_factors, trained, user_gram = np.zeros((n, k)), np.zeros(n, np.bool_), np.eye(k) * 0
        if weights.factors is not None:
            rows = len(weights.factors[0])
            item_factors[:rows], trained[:rows], user_gram = weights.factors
        artifact = ModelArtifact(
            version, weights.events, item_ids[:n], item_factors, trained, user_gram, weights.ease
        )
        self.store.put_blob(MODEL_BLOB, artifact.to_bytes())

    def _install(self, artifact: ModelArtifact) -> None:
        """Install a saved model version over state already rebuilt from the log."""
        item_factors, trained, ease_weights = artifact.remap(self._items)
        factors = (item_factors, trained, artifact.user_gram) if trained.any() else None
        weights = BatchWeights(artifact.trained_through, factors, ease_weights)
        self._install_weights(weights, artifact.version)

    def wait_for_training(self, timeout: float | None = None) -> None:
        """Block until a background retrain (if running) has finished."""
        self._trainer.wait(timeout)

    # -- answers ------------------------------------------------------------------------------

    def _allowed(
        self,
        uidx: int | None,
        exclude: Iterable[str] | None,
        category: str | None,
        exclude_seen: bool = True,
    ) -> npt.NDArray[np.bool_]:
        allowed = self._catalog.available.copy()
        history = self._histories.get(uidx) if uidx is not None else None
        if history is not None:
            if exclude_seen and history.seen:
                allowed[np.fromiter(history.seen, dtype=np.int64, count=len(history.seen))] = False
            if history.negative:
                neg = history.negative
                allowed[np.fromiter(neg, dtype=np.int64, count=len(neg))] = False
        for item_id in exclude or ():
            iidx = self._items.get(item_id)
            if iidx is not None:
                allowed[iidx] = False
        if category is not None:
            allowed &= self._catalog.in_category(category, len(allowed))
        return allowed

    def recommend(
        self,
        user_id: str,
        n: int = 10,
        scenario: str = scenarios.HOME,
        exclude: Iterable[str] | None = None,
        category: str | None = None,
        explain: bool = True,
    ) -> list[Recommendation]:
        """Return up to ``n`` items for the user, best first, with scores and reasons.

        Items the user interacted with, rejected, or that are unavailable or in ``exclude``
        never appear; ``category`` restricts the answer to one category. A user without
        history gets what is trending (in the category, when given).

        Raises:
            ValidationError: bad ``user_id`` or ``n`` outside [1, 1000].
            UnknownScenarioError: ``scenario`` is not configured.
        """
        check_id(user_id, "user_id")
        _check_n(n)
        if scenario not in scenarios.SCENARIOS:
            raise UnknownScenarioError(scenario, list(scenarios.SCENARIOS))
        with self._lock:
            uidx = self._users.get(user_id)
            allowed = self._allowed(uidx, exclude, category)
            models = self._models
            result = None
            if uidx is not None:
                result = scenarios.home(models, self.config.blend, uidx, allowed)
            if result is None or not result.parts:
                result = scenarios.cold(models, allowed)
            return self._answer(result, allowed, n, uidx, explain)

    def similar(
        self, item_id: str, n: int = 10, exclude: Iterable[str] | None = None
    ) -> list[Recommendation]:
        """Return up to ``n`` items similar to ``item_id`` (never itself), best first.

        Raises ``UnknownItemError`` for an item the engine has never seen.
        """
        check_id(item_id, "item_id")
        _check_n(n)
        with self._lock:
            iidx = self._items.get(item_id)
            if iidx is None:
                raise UnknownItemError(item_id)
            allowed = self._allowed(None, exclude, None)
            allowed[iidx] = False
            result = scenarios.similar(self._models, self.config.blend, iidx, allowed)
            return self._answer(result, allowed, n, None)

    def rank(self, user_id: str, item_ids: Sequence[str]) -> list[Recommendation]:
        """Score the given candidates for the user; return them all, best first.

        Unknown candidates score 0 and keep their relative order at the end. Seen items are
        not filtered: the caller chose the candidates.
        """
        check_id(user_id, "user_id")
        for item_id in item_ids:
            check_id(item_id, "item_ids")
        with self._lock:
            uidx = self._users.get(user_id)
            allowed = np.ones(len(self._items), dtype=np.bool_)
            result = None
            if uidx is not None:
                result = scenarios.home(self._models, self.config.blend, uidx, allowed)
            if result is None or not result.parts:
                result = scenarios.cold(self._models, allowed)
            scored = []
            for position, item_id in enumerate(dict.fromkeys(item_ids)):
                iidx = self._items.get(item_id)
                score = float(result.scores[iidx]) if iidx is not None else 0.0
                why = self._why(result, [iidx], uidx)[0] if iidx is not None else ()
                scored.append((score, -position, Recommendation(item_id, score, why)))
        scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
        return [rec for _, _, rec in scored]

    def _answer(
        self,
        result: Blend,
        allowed: npt.NDArray[np.bool_],
        n: int,
        uidx: int | None,
        explain: bool = True,
    ) -> list[Recommendation]:
        # Blends are zero outside ``allowed`` and never negative: the winners with a positive
        # score are the answer (the tie-break alone never lifts a zero above zero).
        scores = result.scores
        ranked = top_n(scores + self._catalog.tie_break, n)
        ranked = ranked[scores[ranked] > 0]
        values = scores[ranked]
        chosen = ranked.tolist()
        whys = self._why(result, chosen, uidx) if explain else [()] * len(chosen)
        id_of = self._items.id_of
        return [
            Recommendation(id_of(i), score, why)
            for i, score, why in zip(chosen, values.tolist(), whys, strict=True)
        ]

    def _why(self, result: Blend, chosen: list[int], uidx: int | None) -> list[tuple[str, ...]]:
        """Explain each chosen item: source shares, and the history item that led to it."""
        whys = [
            [f"{name} {share:.0%}" for name, share in r if share >= 0.005]  # no "trending 0%"
            for r in result.reasons(chosen)
        ]
        if uidx is not None and CoVisitation.name in result.parts:
            covis = self._models.covisitation
            anchors = covis.strongest_links(covis.window(uidx), chosen)
            for why, anchor in zip(whys, anchors, strict=True):
                if anchor is not None:
                    why.append(f"after {self._items.id_of(anchor)}")
        return [tuple(w) for w in whys]

    # -- introspection ------------------------------------------------------------------------

    def freshness(self, user_id: str) -> tuple[int, int, str]:
        """Return what a cached answer for ``user_id`` depends on.

        ``(the user's event count, catalogue version, model version)``: any new event of the
        user, any item upsert and any retrain changes it, so a cache keyed on it never serves
        an answer that hides a newer event (its other inputs, like trending, drift slowly).
        """
        with self._lock:
            uidx = self._users.get(user_id)
            history = self._histories.get(uidx) if uidx is not None else None
            events = history.events if history is not None else 0
            return events, self._catalogue_version, self._models.version

    def stats(self) -> dict[str, Any]:
        """Return counts and the serving model version."""
        with self._lock:
            return {
                "events": len(self._columns),
                "users": len(self._users),
                "items": len(self._items),
                "catalogue_items": self.store.count_items(),
                "user_profiles": self.store.count_users(),
                "model_version": self._models.version,
                "trained_through_events": self._trained_through,
                "training": self._trainer.running,
            }

    def history(self, user_id: str) -> list[str]:
        """Return the user's recent item ids, oldest first (empty for unknown users)."""
        with self._lock:
            uidx = self._users.get(check_id(user_id, "user_id"))
            if uidx is None:
                return []
            items = self._histories.recent_items(uidx, self.config.history.max_recent_events)
            return [self._items.id_of(i) for i in items]


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise ValidationError(f"must be an integer in [1, {MAX_N}]", "n")


def _parse_all(records: Iterable[Mapping[str, Any]], parse: Any, what: str) -> list[Any]:
    parsed = []
    for index, raw in enumerate(records):
        try:
            parsed.append(parse(raw))
        except ValidationError as exc:
            raise ValidationError(f"{what}[{index}]: {exc.message}", exc.field) from None
    return parsed
