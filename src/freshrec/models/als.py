"""Batch ALS with ``implicit``: item factors for a log snapshot, and users' vectors against them.

The online side (per-event fold-in, new items, scoring) is ``models.factors``; this module
only trains, on a snapshot, without touching live state, so a background retrain can run it
while answers keep flowing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from scipy.linalg import lapack
from threadpoolctl import ThreadpoolController

from freshrec.config import FactorsConfig
from freshrec.models.base import EventBatch, FloatArray

# Positives per batched solve in ``solve_users``: 32k x 32 float64 rows is 8 MB.
POSITIVES_PER_SOLVE = 32_768


@dataclass(frozen=True, slots=True)
class TrainedFactors:
    """What one ALS fit produces.

    ``users`` holds the ALS user step against the final ``item_factors`` for users whose
    fold-in would solve exactly the same system (see ``solve_users``): installing them spares
    every user a fold-in solve on their first answer after the swap.
    """

    item_factors: FloatArray  # [n_items, k]
    trained: np.ndarray  # bool [n_items]: rows the fit produced
    user_gram: FloatArray  # UᵀU of the fit's user factors, [k, k]
    users: dict[int, FloatArray]


def positives_matrix(events: EventBatch, trained: np.ndarray | None = None) -> sp.csr_matrix:
    """The binary user x item matrix of positive events (duplicates count once).

    The latest signal on a (user, item) pair wins: a dislike (negative weight) after the
    positives removes the pair, a positive after a dislike restores it. With ``trained`` (a
    bool mask over items) only positives on those items count and the matrix has one column
    per mask entry.
    """
    pos = events.positive
    if (events.weight < 0).any():
        pos = _latest_signal_positive(events)
    n_users = int(events.uidx.max()) + 1 if len(events) else 0
    n_items = int(events.iidx.max()) + 1 if len(events) else 0
    if trained is not None:
        n_items = len(trained)
        inside = events.iidx < n_items
        pos = pos & inside
        pos[inside] &= trained[events.iidx[inside]]
    matrix = sp.csr_matrix(
        (np.ones(int(pos.sum()), dtype=np.float32), (events.uidx[pos], events.iidx[pos])),
        shape=(n_users, n_items),
    )
    matrix.data[:] = 1.0  # duplicates summed by csr_matrix: keep preference binary
    return matrix


def _latest_signal_positive(events: EventBatch) -> np.ndarray:
    """``events.positive`` minus positives whose pair's latest signal is a dislike."""
    signal = np.flatnonzero(events.positive | (events.weight < 0))
    pairs = events.uidx[signal] * (int(events.iidx.max()) + 1) + events.iidx[signal]
    unique, pair_of = np.unique(pairs, return_inverse=True)
    last = np.zeros(len(unique), dtype=np.int64)  # position in ``signal`` of each pair's last
    np.maximum.at(last, pair_of, np.arange(len(signal)))
    liked = events.positive[signal[last]]
    keep = np.zeros(len(events), dtype=np.bool_)
    keep[signal] = liked[pair_of]
    return keep & events.positive


def train(
    config: FactorsConfig,
    events: EventBatch,
    warm_start: FloatArray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainedFactors:
    """Train ALS on the positives in ``events`` and solve its users against the result.

    With ``warm_start`` (the previous item factors, shape [n_old_items, k]) ALS starts from
    them and runs ``warm_start_iterations`` sweeps instead of ``iterations``: a retrain on a
    log that grew a little converges in a few sweeps from where the last one ended.
    ``progress`` is called with ``(sweeps done, sweeps in all)`` after each sweep.
    """
    matrix = positives_matrix(events)
    n_items, k = matrix.shape[1], config.factors
    if not matrix.nnz:
        return TrainedFactors(np.zeros((n_items, k)), np.zeros(n_items, bool), np.zeros((k, k)), {})
    iterations = config.iterations
    start = None
    if warm_start is not None:
        # implicit solves users from items first, so seeding the items is enough.
        iterations = config.warm_start_iterations
        rng = np.random.default_rng(config.seed)
        start = rng.random((n_items, k), dtype=np.float32) * 0.01
        rows = min(n_items, len(warm_start))
        start[:rows] = warm_start[:rows]
    # One BLAS thread: implicit parallelises itself, and on a small box a background
    # retrain must not starve request handling (implicit checks this when constructed).
    with _blas_controller().limit(limits=1, user_api="blas"):
        model = _als(config, iterations)
        model.item_factors = start
        if progress is None:
            model.fit(matrix, show_progress=False)
        else:
            progress(0, iterations)

            def swept(iteration: int, _seconds: float, _loss: float) -> None:
                progress(iteration + 1, iterations)

            model.fit(matrix, show_progress=False, callback=swept)
    fitted = np.asarray(model.user_factors, dtype=np.float64)
    item_factors = np.asarray(model.item_factors, dtype=np.float64)
    trained = np.asarray(matrix.sum(axis=0) > 0)[0]
    users = solve_users(config, matrix, item_factors * trained[:, None])
    return TrainedFactors(item_factors, trained, fitted.T @ fitted, users)


def solve_users(
    config: FactorsConfig, matrix: sp.csr_matrix, item_factors: FloatArray
) -> dict[int, FloatArray]:
    """Every user's ALS step against ``item_factors``, keyed by user index.

    ``matrix`` holds positives on trained items only, and untrained rows of ``item_factors``
    must be zero (the fold-in's Gram matrix sums trained rows only). Users with no positives,
    or more than ``fold_in_max_items`` (whose fold-in counts only the newest ones), are left
    out. For the rest this solves the fold-in's own float64 system, so a user's answer does
    not depend on whether their vector came from here or from a fold-in: users with the same
    number of positives are stacked, so each group is a few batched BLAS/LAPACK calls.
    """
    y = np.asarray(item_factors, dtype=np.float64)
    k, alpha = config.factors, config.alpha
    base = y.T @ y + config.regularization * np.eye(k)
    indptr, indices = matrix.indptr, matrix.indices
    counts = np.diff(indptr)
    solved: dict[int, FloatArray] = {}
    for count in np.unique(counts[(counts > 0) & (counts <= config.fold_in_max_items)]).tolist():
        group = np.flatnonzero(counts == count)
        step = max(1, POSITIVES_PER_SOLVE // count)  # bounds the [users, count, k] block
        for at in range(0, len(group), step):
            users = group[at : at + step]
            liked = y[indices[indptr[users][:, None] + np.arange(count)]]  # [users, count, k]
            lhs = base + (alpha - 1.0) * np.matmul(liked.transpose(0, 2, 1), liked)
            rhs = alpha * liked.sum(axis=1)
            vectors = np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]
            solved.update(zip(users.tolist(), vectors, strict=True))
    return solved


def solve_item_lists(
    config: FactorsConfig, base: FloatArray, item_factors: FloatArray, lists: list[list[int]]
) -> list[FloatArray]:
    """The fold-in solution for each list of liked items, lists of one length stacked.

    ``base`` is the Gram matrix of the item factors plus the ridge (``YᵀY + λI``). What the
    serving model uses to solve many users at once (a backlog of new items needs all of
    their users' vectors): one batched solve per distinct length instead of a Python-level
    solve per user, ~10x less time per user.
    """
    alpha = config.alpha
    out: list[FloatArray | None] = [None] * len(lists)
    by_length: dict[int, list[int]] = {}
    for position, liked in enumerate(lists):
        by_length.setdefault(len(liked), []).append(position)
    for length, positions in by_length.items():
        if length == 0:
            continue
        step = max(1, POSITIVES_PER_SOLVE // length)  # bounds the [users, length, k] block
        for at in range(0, len(positions), step):
            group = positions[at : at + step]
            liked = item_factors[np.array([lists[p] for p in group])]  # [users, length, k]
            lhs = base + (alpha - 1.0) * np.matmul(liked.transpose(0, 2, 1), liked)
            rhs = alpha * liked.sum(axis=1)
            vectors = np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]
            for position, vector in zip(group, vectors, strict=True):
                out[position] = vector
    return [v if v is not None else np.zeros(item_factors.shape[1]) for v in out]


def solve_users_from_log(
    config: FactorsConfig, events: EventBatch, item_factors: FloatArray, trained: np.ndarray
) -> dict[int, FloatArray]:
    """``solve_users`` for the positives in ``events`` on the items ``trained`` marks."""
    matrix = positives_matrix(events, trained)
    return solve_users(config, matrix, item_factors * trained[:, None])


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """The process's BLAS libraries, found once (numpy's and scipy's load at import).

    A ``threadpool_limits`` scans the loaded libraries on every call: ~2 % of a retrain of
    the 12,500-item shop, with onnxruntime and hnswlib loaded.
    """
    return ThreadpoolController()


def _als(config: FactorsConfig, iterations: int) -> AlternatingLeastSquares:
    return AlternatingLeastSquares(
        factors=config.factors,
        regularization=config.regularization,
        alpha=config.alpha,
        iterations=iterations,
        random_state=config.seed,
        num_threads=1,
        calculate_training_loss=False,
    )


def solve_spd(lhs: FloatArray, rhs: FloatArray) -> FloatArray:
    """Solve ``lhs @ x = rhs`` for a symmetric positive definite ``lhs`` (ALS normal equations).

    LAPACK's Cholesky solve directly: for 32 x 32 systems ``np.linalg.solve`` spends three
    times as long in its Python wrapper as in the arithmetic. Falls back to the general solver
    when ``lhs`` is not positive definite (possible only with ``alpha < 1``).
    """
    _, solution, info = lapack.dposv(lhs, rhs)
    if info != 0:
        return np.asarray(np.linalg.solve(lhs, rhs), dtype=np.float64)
    return np.asarray(solution, dtype=np.float64)
