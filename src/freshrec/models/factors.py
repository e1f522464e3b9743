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
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from scipy.linalg import blas, lapack
from threadpoolctl import threadpool_limits

from freshrec.config import FactorsConfig
from freshrec.models.base import EventBatch, FloatArray, IntArray, ScoringModel
from freshrec.retrieval.ann import VectorIndex
from freshrec.retrieval.live_index import LiveIndex


@dataclass(slots=True)
class _FoldIn:
    """A user's cached fold-in system: matrix inverse, right-hand side, solution.

    Keeping the inverse turns each new positive into a Sherman-Morrison update and each
    read into a mat-vec, with no solve on the hot path. New positives wait in ``pending``
    until the next read, so a burst of events costs one list append each and the updates
    are paid only for users who are actually asked about. ``n_items`` counts pending ones.
    """

    inverse: FloatArray
    rhs: FloatArray
    n_items: int
    pending: list[int] = field(default_factory=list)
    vector: FloatArray | None = None


class ImplicitFactors(ScoringModel):
    """ALS item factors with per-user and per-new-item fold-in."""

    name = "factors"

    def __init__(self, config: FactorsConfig) -> None:
        self.config = config
        self._profiles: dict[int, dict[int, None]] = {}  # uidx -> positive items, ordered
        self._item_users: dict[int, list[int]] = {}  # iidx -> users, only for untrained items
        self._item_factors = np.zeros((0, config.factors), dtype=np.float64)
        # A float32 mirror for scoring: a catalogue-wide mat-vec is memory-bound, so half the
        # bytes is nearly half the time; the fold-in algebra stays in float64.
        self._serving = np.zeros((0, config.factors), dtype=np.float32)
        self._set_trained(np.zeros(0, dtype=np.bool_))
        self._gram = np.zeros((config.factors, config.factors))
        self._user_gram = np.zeros((config.factors, config.factors))
        self._ridge = config.regularization * np.eye(config.factors)
        self._identity = np.eye(config.factors)
        self._user_base = self._user_gram + self._ridge
        self._user_base_inverse = self._identity.copy()  # set for real by set_item_factors
        self._user_cache: OrderedDict[int, _FoldIn] = OrderedDict()
        # Every user's last solved vector (32 floats each), beyond the bounded cache of
        # systems: a user whose system was evicted is answered without a new solve until
        # their next positive. At 100k users asked at random, the 20k systems alone would
        # mean a 32 x 32 solve for most answers.
        self._solved: dict[int, FloatArray] = {}
        self._stale_items: set[int] = set()
        self._user_new_items: dict[int, list[int]] = {}  # uidx -> its untrained items
        # Nearest items to a user vector, for candidate retrieval on large catalogues; it
        # follows every rewritten row of ``_serving`` (see ``retrieval.live_index``).
        self._index: LiveIndex | None = None
        self.fitted = False

    # -- training ---------------------------------------------------------------------------

    def fit(self, events: EventBatch) -> None:
        """Train ALS on the positives in ``events`` and reset the online profiles."""
        self._profiles = {}
        self._item_users = {}
        self._user_new_items = {}
        self._user_cache.clear()
        self._solved.clear()
        self._record(events, track_new_items=False)
        self.set_item_factors(*self.solve(events))

    def solve(
        self, events: EventBatch, warm_start: FloatArray | None = None
    ) -> tuple[FloatArray, np.ndarray, FloatArray]:
        """Train ALS on ``events`` without touching this model's live state.

        With ``warm_start`` (the previous item factors, shape [n_old_items, k]) ALS starts from
        them and runs ``warm_start_iterations`` sweeps instead of ``iterations``: a retrain on a
        log that grew a little converges in a few sweeps from where the last one ended.

        Returns:
            ``(item_factors [n_items, k], trained mask [n_items], user_gram [k, k])``, the
            arguments of ``set_item_factors``: the background trainer solves on a snapshot
            and installs the result into the live model, whose profiles are already current.
        """
        pos = events.positive
        n_users = int(events.uidx.max()) + 1 if len(events) else 0
        n_items = int(events.iidx.max()) + 1 if len(events) else 0
        k = self.config.factors
        if not pos.any():
            return np.zeros((n_items, k)), np.zeros(n_items, bool), np.zeros((k, k))
        matrix = sp.csr_matrix(
            (np.ones(int(pos.sum()), dtype=np.float32), (events.uidx[pos], events.iidx[pos])),
            shape=(n_users, n_items),
        )
        matrix.data[:] = 1.0  # duplicates summed by csr_matrix: keep preference binary
        item_factors, user_gram = self._train_als(matrix, warm_start)
        return item_factors, np.asarray(matrix.sum(axis=0) > 0)[0], user_gram

    def _train_als(
        self, matrix: sp.csr_matrix, warm_start: FloatArray | None
    ) -> tuple[FloatArray, FloatArray]:
        iterations = self.config.iterations
        start = None
        if warm_start is not None:
            # implicit solves users from items first, so seeding the items is enough.
            iterations = self.config.warm_start_iterations
            n_items = matrix.shape[1]
            rng = np.random.default_rng(self.config.seed)
            start = rng.random((n_items, self.config.factors), dtype=np.float32) * 0.01
            rows = min(n_items, len(warm_start))
            start[:rows] = warm_start[:rows]
        # One BLAS thread: implicit parallelises itself, and on a small box a background
        # retrain must not starve request handling (implicit checks this when constructed).
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.config.factors,
                regularization=self.config.regularization,
                alpha=self.config.alpha,
                iterations=iterations,
                random_state=self.config.seed,
                num_threads=1,
                calculate_training_loss=False,
            )
            model.item_factors = start
            model.fit(matrix, show_progress=False)
        users = np.asarray(model.user_factors, dtype=np.float64)
        return np.asarray(model.item_factors, dtype=np.float64), users.T @ users

    def set_item_factors(
        self, factors: FloatArray, trained: np.ndarray, user_gram: FloatArray
    ) -> None:
        """Install a trained model.

        Args:
            factors: item factors, shape [n_items, n_factors].
            trained: bool mask, shape [n_items]: rows the fit produced (others are folded in).
            user_gram: ``U.T @ U`` of the fit's user factors, shape [n_factors, n_factors],
                needed to fold in new items exactly as ALS would.
        """
        self._user_gram = np.array(user_gram, dtype=np.float64)
        self._ridge = self.config.regularization * np.eye(self.config.factors)
        # B = UᵀU + λI, the new-item systems' shared part, and its inverse (fixed until the
        # next install).
        self._user_base = self._user_gram + self._ridge
        self._user_base_inverse = _solve_spd(self._user_base, self._identity)
        self._item_factors = np.array(factors, dtype=np.float64)
        self._serving = self._item_factors.astype(np.float32)
        self._set_trained(np.array(trained, dtype=np.bool_))
        rows = self._item_factors[self._trained]
        self._gram = rows.T @ rows
        self._user_cache.clear()
        self._solved.clear()
        self._item_users = {}
        self._user_new_items = {}
        is_trained = self._is_trained
        for uidx, items in self._profiles.items():
            for iidx in items:
                if not is_trained(iidx):
                    self._track_new_item(uidx, iidx)
        self._stale_items = set(self._item_users)
        self.fitted = True

    def trained_state(self) -> tuple[FloatArray, np.ndarray, FloatArray]:
        """Return (factors, trained mask, user gram): what ``set_item_factors`` restores."""
        return self._item_factors.copy(), self._trained.copy(), self._user_gram.copy()

    def _set_trained(self, trained: npt.NDArray[np.bool_]) -> None:
        self._trained = trained
        # A list mirror for per-event lookups: indexing a list is several times faster than
        # indexing an array and converting the numpy bool.
        self._trained_list: list[bool] = trained.tolist()

    def _is_trained(self, iidx: int) -> bool:
        trained = self._trained_list
        return iidx < len(trained) and trained[iidx]

    def partial_fit(self, events: EventBatch) -> None:
        """Record new positives; affected users and new items are re-folded when next read."""
        self._record(events, track_new_items=True)

    def _record(self, events: EventBatch, track_new_items: bool) -> None:
        for uidx, iidx, positive in zip(
            events.uidx.tolist(), events.iidx.tolist(), events.positive.tolist(), strict=True
        ):
            if not positive:
                continue
            profile = self._profiles.setdefault(uidx, {})
            if iidx in profile:
                continue
            profile[iidx] = None
            self._solved.pop(uidx, None)
            self._extend_fold_in(uidx, iidx)
            if track_new_items and not self._is_trained(iidx):
                self._track_new_item(uidx, iidx)
            # The user's vector moved, so every new item folded in from it must be redone;
            # otherwise its vector would depend on when it was first read.
            self._stale_items.update(self._user_new_items.get(uidx, ()))

    def _track_new_item(self, uidx: int, iidx: int) -> None:
        self._item_users.setdefault(iidx, []).append(uidx)
        self._user_new_items.setdefault(uidx, []).append(iidx)

    # -- fold-in ------------------------------------------------------------------------------

    def _system(self, gram: FloatArray, vectors: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The normal equations of one ALS half-step for a row with these positives.

        ``gram`` is the Gram matrix of all counterpart vectors (the ``YtY`` trick of Hu et al.).
        With confidence ``c = α`` on each positive (what ``implicit`` trains with for binary
        input): ``(G + (c - 1) VᵀV + λI) x = c Σ v``.
        """
        confidence, k = self.config.alpha, self.config.factors
        lhs = (
            gram
            + (confidence - 1.0) * (vectors.T @ vectors)
            + self.config.regularization * np.eye(k)
        )
        return lhs, confidence * vectors.sum(axis=0)

    def _solve(self, gram: FloatArray, vectors: FloatArray) -> FloatArray:
        lhs, rhs = self._system(gram, vectors)
        return np.asarray(np.linalg.solve(lhs, rhs), dtype=np.float64)

    def _extend_fold_in(self, uidx: int, iidx: int) -> None:
        """Queue one positive for a cached user system (applied on the next read).

        Users not in the cache, or whose profile outgrew ``fold_in_max_items`` (then only the
        newest items count), are rebuilt from scratch on their next read instead.
        """
        cached = self._user_cache.get(uidx)
        if cached is None or not self._is_trained(iidx):
            return
        if cached.n_items >= self.config.fold_in_max_items:
            del self._user_cache[uidx]
            return
        cached.pending.append(iidx)
        cached.n_items += 1
        cached.vector = None

    def _apply_pending(self, uidx: int, cached: _FoldIn) -> bool:
        """Apply queued positives as rank-one updates; False if the system must be rebuilt."""
        weight, alpha = self.config.alpha - 1.0, self.config.alpha
        for iidx in cached.pending:
            y = self._item_factors[iidx]
            projected = cached.inverse @ y
            denominator = 1.0 + weight * float(y @ projected)
            if denominator <= 1e-9:  # only reachable with alpha < 1: rebuild, don't blow up
                del self._user_cache[uidx]
                return False
            # BLAS rank-one update and axpy: one call each instead of three numpy calls.
            cached.inverse = blas.dger(
                -weight / denominator, projected, projected, a=cached.inverse, overwrite_a=1
            )
            cached.rhs = blas.daxpy(y, cached.rhs, a=alpha)
        cached.pending.clear()
        return True

    def user_vector(self, uidx: int) -> FloatArray | None:
        """Return the user's folded-in vector, or None without positives on known items."""
        cached = self._user_cache.get(uidx)
        if cached is not None:
            self._user_cache.move_to_end(uidx)
            if cached.pending and not self._apply_pending(uidx, cached):
                cached = None
        if cached is None:
            known = self._solved.get(uidx)
            if known is not None:  # no positive since it was solved
                return known
            cached = self._build_fold_in(uidx)
            if cached is None:
                return None
        if cached.vector is None:
            cached.vector = cached.inverse @ cached.rhs
            self._solved[uidx] = cached.vector
        return cached.vector

    def _build_fold_in(self, uidx: int) -> _FoldIn | None:
        profile = self._profiles.get(uidx)
        if not profile or not self.fitted:
            return None
        # The newest ``fold_in_max_items`` trained items: the same set the rank-one updates
        # of ``_extend_fold_in`` maintain, so a cached and a rebuilt vector agree.
        items = []
        trained, limit = self._trained_list, len(self._trained_list)
        for iidx in reversed(profile):
            if iidx < limit and trained[iidx]:
                items.append(iidx)
                if len(items) == self.config.fold_in_max_items:
                    break
        if not items:
            return None
        lhs, rhs = self._system(self._gram, self._item_factors[items])
        # Column-major, so the BLAS rank-one updates of ``_apply_pending`` work in place.
        inverse = np.asfortranarray(_solve_spd(lhs, self._identity))
        cached = self._user_cache[uidx] = _FoldIn(inverse, rhs, len(items))
        if len(self._user_cache) > self.config.fold_in_cache_users:
            self._user_cache.popitem(last=False)
        return cached

    def _refresh_new_items(self) -> None:
        """Give untrained items with positives a vector from their users' vectors."""
        if not self._stale_items:
            return
        stale, self._stale_items = self._stale_items, set()
        needed = max(stale) + 1
        if needed > len(self._item_factors):
            grown = np.zeros((needed, self.config.factors))
            grown[: len(self._item_factors)] = self._item_factors
            self._item_factors = grown
            self._serving = grown.astype(np.float32)
            trained = np.zeros(needed, dtype=np.bool_)
            trained[: len(self._trained)] = self._trained
            self._set_trained(trained)
        confidence = self.config.alpha
        weight = confidence - 1.0
        single_items: list[int] = []
        single_users: list[FloatArray] = []
        for iidx in stale:
            found = [
                v for u in self._item_users.get(iidx, ()) if (v := self.user_vector(u)) is not None
            ]
            if len(found) == 1:
                single_items.append(iidx)
                single_users.append(found[0])
            elif found:
                users = np.array(found)
                lhs = np.add(self._user_base, weight * (users.T @ users))
                vector = _solve_spd(lhs, confidence * np.add.reduce(users))
                self._item_factors[iidx] = vector
                self._serving[iidx] = vector
        if single_items:
            # One user: (B + w v vᵀ) x = α v has the closed form x = α z / (1 + w v·z) with
            # z = B⁻¹ v (Sherman-Morrison), so every such item is three numpy calls in all.
            users = np.array(single_users)
            z = users @ self._user_base_inverse  # B is symmetric
            denominator = 1.0 + weight * np.einsum("ij,ij->i", users, z)
            if denominator.min() > 1e-9:  # always, unless alpha < 1
                vectors = z * (confidence / denominator)[:, None]
                self._item_factors[single_items] = vectors
                self._serving[single_items] = vectors
            else:
                for iidx, user in zip(single_items, single_users, strict=True):
                    lhs = self._user_base + weight * np.multiply.outer(user, user)
                    vector = _solve_spd(lhs, confidence * user)
                    self._item_factors[iidx] = vector
                    self._serving[iidx] = vector
        self._rows_changed(stale)

    # -- scoring ------------------------------------------------------------------------------

    def _fresh_user_vector(self, uidx: int) -> FloatArray | None:
        """The user's vector after new items got theirs; None before the first fit."""
        if not self.fitted:
            return None
        if self._stale_items:
            self._refresh_new_items()
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
        self._refresh_new_items()
        if iidx >= len(self._item_factors):
            return None
        target = self._item_factors[iidx]
        norm = np.linalg.norm(target)
        if norm == 0:
            return None
        out = np.zeros(n_items, dtype=np.float64)
        m = min(n_items, len(self._item_factors))
        rows = self._item_factors[:m]
        norms = np.linalg.norm(rows, axis=1) * norm
        np.divide(rows @ target, norms, out=out[:m], where=norms > 0)
        return out

    # -- content cold start -------------------------------------------------------------------

    def items_without_evidence(self, n_items: int) -> npt.NDArray[np.int64]:
        """Items with neither trained factors nor positives since the fit, as indices.

        These are the items content may place in factor space (``set_content_factors``).
        """
        mask = np.ones(n_items, dtype=np.bool_)
        m = min(n_items, len(self._trained))
        mask[:m] &= ~self._trained[:m]
        touched = [i for i in self._item_users if i < n_items]
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
            k for k, i in enumerate(iidxs) if not self._is_trained(i) and i not in self._item_users
        ]
        if not keep:
            return
        rows = [iidxs[k] for k in keep]
        needed = max(rows) + 1
        if needed > len(self._item_factors):
            grown = np.zeros((needed, self.config.factors))
            grown[: len(self._item_factors)] = self._item_factors
            self._item_factors = grown
            trained = np.zeros(needed, dtype=np.bool_)
            trained[: len(self._trained)] = self._trained
            self._set_trained(trained)
        self._item_factors[rows] = vectors[keep]
        self._serving = self._item_factors.astype(np.float32)
        self._rows_changed(rows)

    # -- candidate retrieval ------------------------------------------------------------------

    def use_index(self, index: VectorIndex | None, background: bool = True) -> None:
        """Nominate candidates from ``index`` (built over the installed factors), or stop.

        Call after ``set_item_factors``; rows rewritten later (fold-in of new items, content
        placement) reach the index through a worker thread (inline if not ``background``).
        """
        if index is None:
            if self._index is not None:
                self._index.close()
            self._index = None
        elif self._index is None:
            self._index = LiveIndex(index, self._vectors_of, background)
        else:
            self._index.replace(index, self._vectors_of)

    def _vectors_of(self, rows: IntArray) -> npt.NDArray[np.float32]:
        serving = self._serving  # one read: a retrain may swap the array meanwhile
        return serving[rows[rows < len(serving)]]

    def _rows_changed(self, rows: Sequence[int] | set[int]) -> None:
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


def _solve_spd(lhs: FloatArray, rhs: FloatArray) -> FloatArray:
    """Solve ``lhs @ x = rhs`` for a symmetric positive definite ``lhs`` (ALS normal equations).

    LAPACK's Cholesky solve directly: for 32 x 32 systems ``np.linalg.solve`` spends three
    times as long in its Python wrapper as in the arithmetic. Falls back to the general solver
    when ``lhs`` is not positive definite (possible only with ``alpha < 1``).
    """
    _, solution, info = lapack.dposv(lhs, rhs)
    if info != 0:
        return np.asarray(np.linalg.solve(lhs, rhs), dtype=np.float64)
    return np.asarray(solution, dtype=np.float64)
