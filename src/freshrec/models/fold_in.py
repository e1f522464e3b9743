"""Users' fold-in vectors: the read side's lazily computed state, behind its own mutex.

A user's factor vector is the closed-form ALS step against the item factors (Hu et al.),
solved the first time the user is asked about after a new positive, and kept. Reads fill
this cache; the writer only queues positives into it and drops what moved. Many readers
share the engine's lock, so the cache guards itself: one short mutex around each user's
lookup (a mat-vec, or one 32 x 32 solve on a miss), never the catalogue-wide scoring that
follows it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from scipy.linalg import blas

from freshrec.types import FloatArray


@dataclass(slots=True)
class FoldInSystem:
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


# Builds a user's system from scratch (None: no positive on a trained item).
SystemBuilder = Callable[[int], FoldInSystem | None]


class FoldInCache:
    """Bounded LRUs of users' fold-in systems and of their last solved vectors.

    Args:
        alpha: ALS confidence on a positive (the rank-one updates' weight).
        max_systems: users whose systems are kept (``fold_in_cache_users``).
        max_items: positives one system folds in before it is rebuilt from the newest.
        max_solved: users whose solved vectors are kept (``solved_cache_users``).
    """

    def __init__(self, alpha: float, max_systems: int, max_items: int, max_solved: int) -> None:
        self._alpha = alpha
        self._max_systems = max_systems
        self._max_items = max_items
        self._max_solved = max_solved
        self._mutex = threading.Lock()
        self._systems: OrderedDict[int, FoldInSystem] = OrderedDict()
        # Every user's last solved vector (32 floats each), beyond the bounded cache of
        # systems: a user whose system was evicted is answered without a new solve until
        # their next positive. At 100k users asked at random, the 20k systems alone would
        # mean a 32 x 32 solve for most answers.
        self._solved: OrderedDict[int, FloatArray] = OrderedDict()

    # -- the read side ------------------------------------------------------------------------

    def vector(
        self, uidx: int, item_factors: FloatArray, build: SystemBuilder
    ) -> FloatArray | None:
        """The user's current vector: cached, updated by queued positives, or built."""
        with self._mutex:
            system = self._systems.get(uidx)
            if system is not None:
                self._systems.move_to_end(uidx)
                if system.pending and not self._apply_pending(uidx, system, item_factors):
                    system = None
            if system is None:
                known = self._solved.get(uidx)
                if known is not None:  # no positive since it was solved
                    self._solved.move_to_end(uidx)
                    return known
                system = build(uidx)
                if system is None:
                    return None
                self._systems[uidx] = system
                if len(self._systems) > self._max_systems:
                    self._systems.popitem(last=False)
            if system.vector is None:
                system.vector = system.inverse @ system.rhs
                self._solved[uidx] = system.vector
                self._trim()
            return system.vector

    def _apply_pending(self, uidx: int, system: FoldInSystem, item_factors: FloatArray) -> bool:
        """Apply queued positives as rank-one updates; False if the system must be rebuilt."""
        weight, alpha = self._alpha - 1.0, self._alpha
        for iidx in system.pending:
            y = item_factors[iidx]
            projected = system.inverse @ y
            denominator = 1.0 + weight * float(y @ projected)
            if denominator <= 1e-9:  # only reachable with alpha < 1: rebuild, don't blow up
                del self._systems[uidx]
                return False
            # BLAS rank-one update and axpy: one call each instead of three numpy calls.
            system.inverse = blas.dger(
                -weight / denominator, projected, projected, a=system.inverse, overwrite_a=1
            )
            system.rhs = blas.daxpy(y, system.rhs, a=alpha)
        system.pending.clear()
        return True

    @property
    def solved_count(self) -> int:
        """How many users' solved vectors are kept (at most ``max_solved``)."""
        return len(self._solved)

    def has_vector(self, uidx: int) -> bool:
        """Whether the user's vector needs no solve from scratch (cached or solved)."""
        with self._mutex:
            return uidx in self._solved or uidx in self._systems

    # -- the write side -----------------------------------------------------------------------

    def extend(self, uidx: int, iidx: int) -> None:
        """A new positive on trained item ``iidx``: queue it for the user's cached system.

        Users not cached, or whose system holds ``max_items`` already (then only the newest
        items count), are rebuilt from scratch on their next read instead.
        """
        with self._mutex:
            self._solved.pop(uidx, None)
            system = self._systems.get(uidx)
            if system is None:
                return
            if system.n_items >= self._max_items:
                del self._systems[uidx]
                return
            system.pending.append(iidx)
            system.n_items += 1
            system.vector = None

    def moved(self, uidx: int) -> None:
        """The user's solved vector no longer holds (their system, if cached, still does)."""
        with self._mutex:
            self._solved.pop(uidx, None)

    def forget(self, uidx: int) -> None:
        """Drop everything of the user (a dislike: a rank-one downdate could go indefinite)."""
        with self._mutex:
            self._systems.pop(uidx, None)
            self._solved.pop(uidx, None)

    def put_solved(self, solved: Iterable[tuple[int, FloatArray]]) -> None:
        """Vectors solved elsewhere (batched, for new items' users)."""
        with self._mutex:
            for uidx, vector in solved:
                self._solved[uidx] = vector
            self._trim()

    def reset(self, solved: OrderedDict[int, FloatArray] | None = None) -> None:
        """A new factor space: no system holds; ``solved`` (LRU order) are its vectors."""
        with self._mutex:
            self._systems.clear()
            self._solved = solved if solved is not None else OrderedDict()
            self._trim()

    def _trim(self) -> None:
        """Forget the least recently asked solved vectors past ``max_solved``."""
        solved, cap = self._solved, self._max_solved
        while len(solved) > cap:
            solved.popitem(last=False)
