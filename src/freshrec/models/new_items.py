"""New items: vectors for items the last fit did not know, from the users who liked them.

Split from ``factors.py`` (which composes it into ``ImplicitFactors``): an item first liked
after the fit gets the symmetric closed-form ALS step against its users' current vectors,
so it can be recommended before the next retrain. Its vector goes stale whenever one of
those users moves; stale items are redone on the next read, or, in a serving engine with
many waiting, a budgeted slice at a time by the engine's upkeep worker (``refresh``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from freshrec.config import FactorsConfig
from freshrec.models import als
from freshrec.models.base import FloatArray
from freshrec.models.fold_in import FoldInCache

# One slice of a serving engine's new-item fold-in (``ImplicitFactors.refresh``, run by its
# upkeep worker between requests): after a burst of 640k events on a 100k shop the whole
# backlog, paid by the next read, made that answer take 4.5 s. In one probe run each, the
# burst's ingest went 25.8k events/s with 1 ms slices, 27.9k with 0.5 ms (the engine lock
# is shared).
REFRESH_BUDGET_SECONDS = 0.0005
# While a budget runs, new items are taken in chunks whose users add up to about this many
# (each item counts its newest ``fold_in_max_items``); the clock is read between chunks.
REFRESH_CHUNK_USERS = 64
# Up to this many waiting new items, a read gives them their vectors itself.
INLINE_REFRESH_ITEMS = 32


class NewItemsMixin:
    """The new-item half of ``ImplicitFactors`` (see there for the attributes)."""

    config: FactorsConfig
    fitted: bool
    refresh_budget: float | None
    _stale_items: set[int]
    _item_users: dict[int, list[int]]
    _user_new_items: dict[int, list[int]]
    fold_in: FoldInCache
    _item_factors: FloatArray
    _serving: npt.NDArray[np.float32]
    _trained: npt.NDArray[np.bool_]
    _gram: FloatArray
    _ridge: FloatArray
    _user_base: FloatArray
    _user_base_inverse: FloatArray

    # Methods of ImplicitFactors this half calls.
    user_vector: Callable[[int], FloatArray | None]
    _fold_in_items: Callable[[int], list[int]]
    _set_trained: Callable[[npt.NDArray[np.bool_]], None]
    _rows_changed: Callable[[Sequence[int] | set[int]], None]

    @property
    def backlog(self) -> int:
        """How many new items wait for their vectors (see ``refresh``)."""
        return len(self._stale_items) if self.fitted else 0

    @property
    def has_backlog(self) -> bool:
        """Whether new items wait for their vectors (see ``refresh``)."""
        return self.backlog > 0

    def refresh(self) -> bool:
        """Spend up to ``refresh_budget`` giving new items their vectors; True if more wait.

        With a budget, reads leave this to the caller (a serving engine's upkeep worker,
        between requests); without one every read does all of it anyway.
        """
        if self.has_backlog:
            self._refresh_new_items(self.refresh_budget)
        return self.has_backlog

    def _refresh_few(self) -> None:
        """On a read: all waiting new items, unless a budget is set and they are many.

        A few (what a handful of events makes) cost a read well under a millisecond, and
        doing them inline keeps a read right after a write exact; a backlog is left to
        ``refresh``.
        """
        stale = self._stale_items
        if stale and (self.refresh_budget is None or len(stale) <= INLINE_REFRESH_ITEMS):
            self._refresh_new_items(None)

    def refresh_all(self) -> None:
        """Give every waiting new item its vector now, whatever the budget (start-up)."""
        if self.has_backlog:
            self._refresh_new_items(None)

    def _track_new_item(self, uidx: int, iidx: int) -> None:
        self._item_users.setdefault(iidx, []).append(uidx)
        self._user_new_items.setdefault(uidx, []).append(iidx)

    def _refresh_new_items(self, budget: float | None) -> None:
        """Give untrained items with positives a vector from their users' vectors.

        Each item needs its users' vectors (a solve for each user not solved since their
        last positive on a trained item), so a burst of events on new items is a backlog of
        seconds: with a ``budget`` (seconds) it is worked off a chunk of items at a time,
        each chunk finished (users solved, items solved, the index told) before the clock
        is read; the rest stay stale.
        """
        pending = self._stale_items
        deadline = None if budget is None else time.perf_counter() + budget
        while pending:
            chunk = self._take_chunk(None if deadline is None else REFRESH_CHUNK_USERS)
            try:
                self._grow_for(chunk)
                self._solve_users_of(chunk)
                self._solve_items(chunk)
            except BaseException:  # still stale: a later refresh retries them
                pending.update(chunk)
                raise
            self._rows_changed(chunk)
            if deadline is not None and time.perf_counter() > deadline:
                return

    def _take_chunk(self, users: int | None) -> list[int]:
        """Waiting items whose users add up to about ``users`` (None: all of them)."""
        pending = self._stale_items
        if users is None:
            chunk = list(pending)
            pending.clear()
            return chunk
        chunk, counted = [], 0
        while pending and counted < users:
            iidx = pending.pop()
            chunk.append(iidx)
            counted += len(self._users_of(iidx))
        return chunk

    def _grow_for(self, items: list[int]) -> None:
        """Make room for ``items`` and every other waiting item, in one copy."""
        if max(items) < len(self._item_factors):
            return
        needed = max(max(items), max(self._stale_items, default=-1)) + 1
        grown = np.zeros((needed, self.config.factors))
        grown[: len(self._item_factors)] = self._item_factors
        self._item_factors = grown
        self._serving = grown.astype(np.float32)
        trained = np.zeros(needed, dtype=np.bool_)
        trained[: len(self._trained)] = self._trained
        self._set_trained(trained)

    def _solve_items(self, items: list[int]) -> None:
        """The closed-form ALS item step against each item's users' vectors."""
        confidence = self.config.alpha
        weight = confidence - 1.0
        single_items: list[int] = []
        single_users: list[FloatArray] = []
        for iidx in items:
            found = self._users_vectors(iidx)
            if len(found) == 1:
                single_items.append(iidx)
                single_users.append(found[0])
            elif found:
                users = np.array(found)
                lhs = np.add(self._user_base, weight * (users.T @ users))
                vector = als.solve_spd(lhs, confidence * np.add.reduce(users))
                self._item_factors[iidx] = vector
                self._serving[iidx] = vector
            elif iidx in self._item_users:  # every positive withdrawn (dislikes): no opinion
                self._item_factors[iidx] = 0.0
                self._serving[iidx] = 0.0
        if not single_items:
            return
        # One user: (B + w v vᵀ) x = α v has the closed form x = α z / (1 + w v·z) with
        # z = B⁻¹ v (Sherman-Morrison), so every such item is three numpy calls in all.
        users = np.array(single_users)
        z = users @ self._user_base_inverse  # B is symmetric
        denominator = 1.0 + weight * np.einsum("ij,ij->i", users, z)
        if denominator.min() > 1e-9:  # always, unless alpha < 1
            vectors = z * (confidence / denominator)[:, None]
            self._item_factors[single_items] = vectors
            self._serving[single_items] = vectors
            return
        for iidx, user in zip(single_items, single_users, strict=True):
            lhs = self._user_base + weight * np.multiply.outer(user, user)
            vector = als.solve_spd(lhs, confidence * user)
            self._item_factors[iidx] = vector
            self._serving[iidx] = vector

    def _users_of(self, iidx: int) -> list[int]:
        """The item's newest ``fold_in_max_items`` users: what its vector is solved from.

        The mirror of a user's fold-in, which counts their newest items; it bounds the cost
        of an item that many users liked before any retrain.
        """
        return self._item_users.get(iidx, [])[-self.config.fold_in_max_items :]

    def _solve_users_of(self, items: list[int]) -> None:
        """Solve, in batches, the users of ``items`` who have no current vector."""
        has_vector = self.fold_in.has_vector
        users = {u for iidx in items for u in self._users_of(iidx) if not has_vector(u)}
        if not users:
            return
        order = list(users)
        lists = [self._fold_in_items(u) for u in order]
        base = self._gram + self._ridge
        vectors = als.solve_item_lists(self.config, base, self._item_factors, lists)
        # A user with no trained positive has no vector.
        self.fold_in.put_solved(
            (uidx, vector)
            for uidx, liked, vector in zip(order, lists, vectors, strict=True)
            if liked
        )

    def _users_vectors(self, iidx: int) -> list[FloatArray]:
        """The vectors of the users who liked a new item (those who have one)."""
        return [v for u in self._users_of(iidx) if (v := self.user_vector(u)) is not None]
