"""Implicit-feedback matrix factorisation: batch ALS from ``implicit``, online fold-in ours.

``fit`` trains item factors with ``implicit``'s ALS on the positive events. Between fits:
- a user's vector is the closed-form ALS solution against the current item factors, given
  that user's positives so far (the same step ALS itself takes), recomputed lazily the first
  time the user is scored after a new positive event, and cached;
- an item that was not in the last fit gets a vector from the users who liked it, by the
  symmetric closed-form step, so it can be recommended before the next retrain.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from freshrec.config import FactorsConfig
from freshrec.models import als
from freshrec.models.base import EventBatch, FloatArray, IntArray, ScoringModel
from freshrec.models.fold_in import FoldInCache, FoldInSystem
from freshrec.models.new_items import NewItemVectors
from freshrec.retrieval.ann import VectorIndex
from freshrec.retrieval.live_index import IndexedVectors, LiveIndex


@dataclass(frozen=True, slots=True)
class PreparedFactors:
    """Trained weights in serving form (``ImplicitFactors.prepare``), ready to swap in."""

    item_factors: FloatArray  # float64: the fold-in algebra
    serving: npt.NDArray[np.float32]  # the scoring mirror
    trained: npt.NDArray[np.bool_]
    trained_list: list[bool]
    user_gram: FloatArray
    user_base: FloatArray
    user_base_inverse: FloatArray
    gram: FloatArray  # over trained rows
    users: OrderedDict[int, FloatArray]  # solved vectors at the snapshot, in LRU order


class ImplicitFactors(ScoringModel):
    """ALS item factors with per-user and per-new-item fold-in."""

    name = "factors"

    def __init__(self, config: FactorsConfig, refresh_budget: float | None = None) -> None:
        """Empty model; ``refresh_budget`` bounds each ``refresh`` of new items' vectors.

        Seconds one ``refresh`` may spend giving new items vectors (the rest wait for the
        next); a write then does one such slice and leaves the backlog to ``refresh`` (the
        upkeep worker). None does all of it on every write (exact replays and tests:
        results must not depend on timing). Reads never do any of it.
        """
        self.config = config
        self._profiles: dict[int, dict[int, None]] = {}  # uidx -> positive items, ordered
        self._item_factors = np.zeros((0, config.factors), dtype=np.float64)
        # A float32 mirror for scoring: a catalogue-wide mat-vec is memory-bound, so half the
        # bytes is nearly half the time; the fold-in algebra stays in float64.
        self._serving = np.zeros((0, config.factors), dtype=np.float32)
        self._trained_list: list[bool] = []
        self._set_trained(np.zeros(0, dtype=np.bool_))
        self._gram = np.zeros((config.factors, config.factors))
        self._user_gram = np.zeros((config.factors, config.factors))
        self._ridge = config.regularization * np.eye(config.factors)
        self._identity = np.eye(config.factors)
        self._user_base = self._user_gram + self._ridge
        self._user_base_inverse = self._identity.copy()  # set for real by set_item_factors
        # Users' vectors, solved lazily by reads (the read side's own state and mutex).
        self.fold_in = FoldInCache(
            config.alpha,
            config.fold_in_cache_users,
            config.fold_in_max_items,
            config.solved_cache_users,
        )
        # Items the last fit did not know: who liked them, which wait for a vector.
        self.new_items = NewItemVectors(config, self, refresh_budget)
        # Nearest items to a user vector, for candidate retrieval on large catalogues; it
        # follows every rewritten row of ``_serving`` (see ``retrieval.live_index``).
        self._index: LiveIndex | None = None
        self.fitted = False

    # -- training ---------------------------------------------------------------------------

    def fit(self, events: EventBatch) -> None:
        """Train ALS on the positives in ``events`` and reset the online profiles."""
        self._profiles = {}
        self.new_items.reset()
        self.fold_in.reset()
        self._record(events, track_new_items=False)
        trained = als.train(self.config, events)
        self.install(
            self.prepare(trained.item_factors, trained.trained, trained.user_gram, trained.users)
        )

    def set_item_factors(
        self, factors: FloatArray, trained: np.ndarray, user_gram: FloatArray
    ) -> None:
        """Install a trained model (``prepare`` then ``install``, for callers without a lock).

        Args:
            factors: item factors, shape [n_items, n_factors].
            trained: bool mask, shape [n_items]: rows the fit produced (others are folded in).
            user_gram: ``U.T @ U`` of the fit's user factors, shape [n_factors, n_factors],
                needed to fold in new items exactly as ALS would.
        """
        self.install(self.prepare(factors, trained, user_gram))

    def prepare(
        self,
        factors: FloatArray,
        trained: np.ndarray,
        user_gram: FloatArray,
        users: dict[int, FloatArray] | None = None,
    ) -> PreparedFactors:
        """Everything ``install`` needs that takes time, computed without touching live state.

        A background retrain calls this outside the engine's lock (copies and products over
        the whole catalogue), so that the swap itself holds the lock for milliseconds.
        ``users``: solved user vectors at the fit's snapshot (``als.TrainedFactors.users``).
        """
        user_gram = np.array(user_gram, dtype=np.float64)
        # B = UᵀU + λI, the new-item systems' shared part, and its inverse (fixed until the
        # next install).
        user_base = user_gram + self._ridge
        item_factors = np.array(factors, dtype=np.float64)
        mask = np.array(trained, dtype=np.bool_)
        rows = item_factors[mask]
        return PreparedFactors(
            item_factors,
            item_factors.astype(np.float32),
            mask,
            mask.tolist(),
            user_gram,
            user_base,
            als.solve_spd(user_base, self._identity),
            rows.T @ rows,
            # Built here, off the lock: install then swaps it in without a copy.
            OrderedDict(users) if users is not None else OrderedDict(),
        )

    def install(self, prepared: PreparedFactors, since: EventBatch | None = None) -> None:
        """Swap in prepared weights; the per-user profiles are kept.

        ``since``: the events logged after the fit's snapshot (None: every profile is checked,
        for a fit over the whole log). Their users' prepared vectors are dropped (they moved
        on since) and their positives on untrained items start those items' fold-in. Without
        ``since`` the work is one pass over every profile.
        """
        p = prepared
        self._user_gram, self._user_base = p.user_gram, p.user_base
        self._user_base_inverse = p.user_base_inverse
        self._item_factors, self._serving, self._gram = p.item_factors, p.serving, p.gram
        self._trained, self._trained_list = p.trained, p.trained_list
        self.fold_in.reset(p.users)
        self.new_items.reset()
        track, is_trained = self.new_items.track, self._is_trained
        if since is None:
            for uidx, items in self._profiles.items():
                for iidx in items:
                    if not is_trained(iidx):
                        track(uidx, iidx)
        else:
            tracked: set[tuple[int, int]] = set()
            # Users who disliked since the snapshot moved on as well.
            for uidx in since.uidx[since.weight < 0].tolist():
                self.fold_in.moved(uidx)
            pos = since.positive
            for uidx, iidx in zip(since.uidx[pos].tolist(), since.iidx[pos].tolist(), strict=True):
                self.fold_in.moved(uidx)
                if not is_trained(iidx) and (uidx, iidx) not in tracked:
                    tracked.add((uidx, iidx))
                    track(uidx, iidx)
        self.new_items.all_stale()
        self.fitted = True
        self.new_items.refresh_few()  # the writer's job: reads never solve new items

    def trained_state(self) -> tuple[FloatArray, np.ndarray, FloatArray]:
        """Return (factors, trained mask, user gram): what ``set_item_factors`` restores."""
        return self._item_factors.copy(), self._trained.copy(), self._user_gram.copy()

    def _set_trained(self, trained: npt.NDArray[np.bool_]) -> None:
        self._trained = trained
        # A list mirror for per-event lookups: indexing a list is several times faster than
        # indexing an array and converting the numpy bool.
        self._trained_list = trained.tolist()

    def _is_trained(self, iidx: int) -> bool:
        trained = self._trained_list
        return iidx < len(trained) and trained[iidx]

    def partial_fit(self, events: EventBatch) -> None:
        """Record new positives; new items get vectors now (or, a backlog, from ``refresh``).

        Affected users are re-folded when next read (the read side's ``fold_in`` cache).
        """
        self._record(events, track_new_items=True)
        if self.fitted:  # before a fit there is no factor space to place them in
            self.new_items.refresh_few()

    def _record(self, events: EventBatch, track_new_items: bool) -> None:
        for uidx, iidx, positive, weight in zip(
            events.uidx.tolist(),
            events.iidx.tolist(),
            events.positive.tolist(),
            events.weight.tolist(),
            strict=True,
        ):
            if not positive:
                if weight < 0:
                    self._forget(uidx, iidx)
                continue
            profile = self._profiles.setdefault(uidx, {})
            if iidx in profile:
                continue
            profile[iidx] = None
            if len(profile) > self.config.profile_max_items:
                # Only the newest ``fold_in_max_items`` trained items are folded in: the
                # oldest of a long profile no longer matters, and memory stays bounded.
                del profile[next(iter(profile))]
            if self._is_trained(iidx):
                self.fold_in.extend(uidx, iidx)
                self.new_items.user_moved(uidx)
            elif track_new_items:
                # A user's vector counts trained items only: it stays; the item gained a user.
                self.new_items.gained(uidx, iidx)

    def _forget(self, uidx: int, iidx: int) -> None:
        """A dislike: the item leaves the user's profile (a later positive brings it back).

        Training drops the pair too (``als.positives_matrix``: the latest signal wins).
        """
        profile = self._profiles.get(uidx)
        if profile is None or iidx not in profile:
            return
        del profile[iidx]
        # A rank-one downdate could go indefinite; the next read rebuilds the system.
        self.fold_in.forget(uidx)
        self.new_items.lost(uidx, iidx)

    # -- fold-in ------------------------------------------------------------------------------

    def _system(self, gram: FloatArray, vectors: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The normal equations of one ALS half-step for a row with these positives.

        ``gram`` is the Gram matrix of all counterpart vectors (the ``YtY`` trick of Hu et al.).
        With confidence ``c = α`` on each positive (what ``implicit`` trains with for binary
        input): ``(G + (c - 1) VᵀV + λI) x = c Σ v``.
        """
        confidence = self.config.alpha
        lhs = gram + (confidence - 1.0) * (vectors.T @ vectors) + self._ridge
        return lhs, confidence * vectors.sum(axis=0)

    def _solve(self, gram: FloatArray, vectors: FloatArray) -> FloatArray:
        lhs, rhs = self._system(gram, vectors)
        return np.asarray(np.linalg.solve(lhs, rhs), dtype=np.float64)

    def user_vector(self, uidx: int) -> FloatArray | None:
        """Return the user's folded-in vector, or None without positives on known items."""
        return self.fold_in.vector(uidx, self._item_factors, self._build_fold_in)

    def fold_in_items(self, uidx: int) -> list[int]:
        """The newest ``fold_in_max_items`` trained items of the user's positives.

        The same set the rank-one updates of ``_extend_fold_in`` maintain, so a cached and
        a rebuilt vector agree.
        """
        profile = self._profiles.get(uidx)
        items: list[int] = []
        if not profile:
            return items
        trained, limit = self._trained_list, len(self._trained_list)
        for iidx in reversed(profile):
            if iidx < limit and trained[iidx]:
                items.append(iidx)
                if len(items) == self.config.fold_in_max_items:
                    break
        return items

    def _build_fold_in(self, uidx: int) -> FoldInSystem | None:
        items = self.fold_in_items(uidx) if self.fitted else []
        if not items:
            return None
        lhs, rhs = self._system(self._gram, self._item_factors[items])
        # Column-major, so the cache's BLAS rank-one updates work in place.
        inverse = np.asfortranarray(als.solve_spd(lhs, self._identity))
        return FoldInSystem(inverse, rhs, len(items))

    # -- scoring ------------------------------------------------------------------------------

    def _fresh_user_vector(self, uidx: int) -> FloatArray | None:
        """The user's vector; None before the first fit (a read: nothing shared is written)."""
        if not self.fitted:
            return None
        return self.user_vector(uidx)

    def score_user(self, uidx: int, n_items: int) -> FloatArray | None:
        """Return ``item_factors @ user_vector`` for every item; None before the first fit."""
        vector = self._fresh_user_vector(uidx)
        if vector is None:
            return None
        m = min(n_items, len(self._serving))
        scores = self._serving[:m] @ vector.astype(np.float32)
        if m == n_items:
            return scores.astype(np.float64)
        out = np.zeros(n_items, dtype=np.float64)
        out[:m] = scores
        return out

    def score_item(self, iidx: int, n_items: int) -> FloatArray | None:
        """Return cosine similarity of item factors; None for items without a vector."""
        if not self.fitted:
            return None
        item_factors = self._item_factors  # one read: the writer swaps, never resizes
        if iidx >= len(item_factors):
            return None
        target = item_factors[iidx]
        norm = np.linalg.norm(target)
        if norm == 0:
            return None
        out = np.zeros(n_items, dtype=np.float64)
        m = min(n_items, len(item_factors))
        rows = item_factors[:m]
        norms = np.linalg.norm(rows, axis=1) * norm
        np.divide(rows @ target, norms, out=out[:m], where=norms > 0)
        return out

    # -- new items (``NewItemVectors`` works them; these are its ``FactorSpace``) -------------

    @property
    def backlog(self) -> int:
        """How many new items wait for their vectors (see ``refresh``)."""
        return self.new_items.backlog if self.fitted else 0

    @property
    def has_backlog(self) -> bool:
        """Whether new items wait for their vectors (see ``refresh``)."""
        return self.backlog > 0

    def refresh(self) -> bool:
        """One budgeted slice of new items' vectors (the upkeep worker's); True if more wait."""
        return self.new_items.refresh() if self.fitted else False

    def refresh_all(self) -> None:
        """Give every waiting new item its vector now, whatever the budget (start-up)."""
        if self.fitted:
            self.new_items.refresh_all()

    @property
    def item_factors(self) -> FloatArray:
        """The current item factors (float64; swapped, or grown by a copy, never resized)."""
        return self._item_factors

    def user_system(self) -> FloatArray:
        """``G + λI``: the shared part of every user's fold-in system."""
        return self._gram + self._ridge

    def item_system(self) -> tuple[FloatArray, FloatArray]:
        """``B = UᵀU + λI`` of a new item's step, and its inverse (fixed per install)."""
        return self._user_base, self._user_base_inverse

    def ensure_rows(self, rows: int) -> None:
        """Grow the factor arrays to ``rows`` rows in one copy (new rows untrained, zero)."""
        if rows <= len(self._item_factors):
            return
        grown = np.zeros((rows, self.config.factors))
        grown[: len(self._item_factors)] = self._item_factors
        self._item_factors = grown
        self._serving = grown.astype(np.float32)
        trained = np.zeros(rows, dtype=np.bool_)
        trained[: len(self._trained)] = self._trained
        self._set_trained(trained)

    def write_rows(self, rows: Sequence[int], vectors: FloatArray) -> None:
        """Set the factors of ``rows`` and their float32 scoring mirror (the writer's)."""
        self._item_factors[rows] = vectors
        self._serving[rows] = vectors

    # -- content cold start -------------------------------------------------------------------

    def items_without_evidence(self, n_items: int) -> npt.NDArray[np.int64]:
        """Items with neither trained factors nor positives since the fit, as indices.

        These are the items content may place in factor space (``set_content_factors``).
        """
        mask = np.ones(n_items, dtype=np.bool_)
        m = min(n_items, len(self._trained))
        mask[:m] &= ~self._trained[:m]
        touched = [i for i in self.new_items.touched() if i < n_items]
        if touched:
            mask[touched] = False
        return np.flatnonzero(mask)

    def set_content_factors(self, iidxs: Sequence[int], vectors: FloatArray) -> None:
        """Give evidence-less items content-predicted factors, shape [len(iidxs), k].

        Items that were trained or have positives by now are skipped: behaviour outranks
        content. An item's first positive replaces its content factors with the fold-in.
        """
        if not self.fitted or not len(iidxs):
            return
        keep = [
            k
            for k, i in enumerate(iidxs)
            if not self._is_trained(i) and not self.new_items.has_users(i)
        ]
        if not keep:
            return
        rows = [iidxs[k] for k in keep]
        self.ensure_rows(max(rows) + 1)
        self.write_rows(rows, vectors[keep])
        self.rows_changed(rows)

    # -- candidate retrieval ------------------------------------------------------------------

    def use_index(
        self,
        index: VectorIndex | None,
        background: bool = True,
        indexed: IndexedVectors | None = None,
    ) -> None:
        """Nominate candidates from ``index`` (built over the installed factors), or stop.

        Call after ``set_item_factors``; rows rewritten later (fold-in of new items, content
        placement) reach the index through a worker thread (inline if not ``background``).
        ``indexed``: ``IndexedVectors.of(index)`` made beforehand, off the caller's lock.
        """
        if index is None:
            if self._index is not None:
                self._index.close()
            self._index = None
        elif self._index is None:
            self._index = LiveIndex(index, self._vectors_of, background, indexed=indexed)
        else:
            self._index.replace(index, self._vectors_of, indexed)

    def _vectors_of(self, rows: IntArray) -> npt.NDArray[np.float32]:
        serving = self._serving  # one read: a retrain may swap the array meanwhile
        return serving[rows[rows < len(serving)]]

    def rows_changed(self, rows: Sequence[int] | set[int]) -> None:
        """Tell the candidate index that ``rows`` of the factors moved."""
        if self._index is not None:
            self._index.changed(rows)

    @property
    def index(self) -> LiveIndex | None:
        """The live ANN index over item factors, when candidate retrieval uses one."""
        return self._index

    def propose(self, uidx: int, k: int) -> IntArray | None:
        """The ``k`` items nearest the user's vector (inner product), or None without one."""
        if self._index is None:
            return None
        vector = self._fresh_user_vector(uidx)
        return None if vector is None else self._index.search(vector, k)

    def score_user_at(self, uidx: int, items: IntArray) -> FloatArray | None:
        """``score_user``'s values at ``items`` only (0 for items without factors)."""
        vector = self._fresh_user_vector(uidx)
        if vector is None:
            return None
        serving = self._serving
        inside = items < len(serving)
        if inside.all():
            return (serving[items] @ vector.astype(np.float32)).astype(np.float64)
        out = np.zeros(len(items), dtype=np.float64)
        out[inside] = serving[items[inside]] @ vector.astype(np.float32)
        return out
