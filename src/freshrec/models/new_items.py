"""New items: vectors for items the last fit did not know, from the users who liked them.

An item first liked after the fit gets the symmetric closed-form ALS step against its
users' current vectors, so it can be recommended before the next retrain. Its vector goes
stale whenever one of those users moves; stale items are redone by the writer right after
the events that made them stale, or, in a serving engine with many waiting, a budgeted slice
at a time by the engine's upkeep worker (``refresh``). ``NewItemVectors`` owns which items
wait and who liked them; it reads and writes the factor rows through ``FactorSpace``, a
protocol ``ImplicitFactors`` implements, never through the model's private fields.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

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


class FactorSpace(Protocol):
    """What new-item vectors need of the factor model they live in."""

    @property
    def fold_in(self) -> FoldInCache:
        """Users' vectors (the read side's cache; batched solves are put into it)."""
        ...

    @property
    def item_factors(self) -> FloatArray:
        """The current item factors, shape [rows, k] (float64)."""
        ...

    def user_vector(self, uidx: int) -> FloatArray | None:
        """A user's current vector, or None."""
        ...

    def fold_in_items(self, uidx: int) -> list[int]:
        """The trained items a user's vector is solved from."""
        ...

    def user_system(self) -> FloatArray:
        """``G + λI`` of a user's fold-in (G: Gram matrix of the trained item factors)."""
        ...

    def item_system(self) -> tuple[FloatArray, FloatArray]:
        """``B = UᵀU + λI`` of a new item's step, and its inverse."""
        ...

    def ensure_rows(self, rows: int) -> None:
        """Grow the factor arrays to at least ``rows`` rows (new rows untrained, zero)."""
        ...

    def write_rows(self, rows: Sequence[int], vectors: FloatArray) -> None:
        """Set the factors (and the scoring mirror) of ``rows``."""
        ...

    def rows_changed(self, rows: Sequence[int] | set[int]) -> None:
        """Tell the candidate index that ``rows`` moved."""
        ...


class NewItemVectors:
    """Which untrained items have positives, who gave them, and which wait for a vector.

    Args:
        config: the factor model's settings (``alpha``, ``fold_in_max_items``).
        space: the factor model the vectors are written into.
        budget: seconds one ``refresh`` may spend (None: all of it, every time).
    """

    def __init__(self, config: FactorsConfig, space: FactorSpace, budget: float | None) -> None:
        self.config = config
        self.budget = budget
        self._space = space
        self._stale: set[int] = set()
        self._item_users: dict[int, list[int]] = {}  # iidx -> users, only untrained items
        self._user_items: dict[int, list[int]] = {}  # uidx -> its untrained items

    # -- what the writer records --------------------------------------------------------------

    def reset(self) -> None:
        """Forget every new item (a new fit: what counts as new starts over)."""
        self._stale = set()
        self._item_users = {}
        self._user_items = {}

    def track(self, uidx: int, iidx: int) -> None:
        """User ``uidx`` gave untrained item ``iidx`` a positive (its vector is not redone)."""
        self._item_users.setdefault(iidx, []).append(uidx)
        self._user_items.setdefault(uidx, []).append(iidx)

    def gained(self, uidx: int, iidx: int) -> None:
        """A new positive on an untrained item: track it, and the item waits for a vector."""
        self.track(uidx, iidx)
        self._stale.add(iidx)

    def user_moved(self, uidx: int) -> None:
        """The user's vector moved: every new item folded in from it must be redone.

        Otherwise its vector would depend on when it was first computed.
        """
        self._stale.update(self._user_items.get(uidx, ()))

    def lost(self, uidx: int, iidx: int) -> None:
        """The user withdrew a positive (a dislike): their vector and maybe ``iidx`` change."""
        self.user_moved(uidx)
        users = self._item_users.get(iidx)
        if users is not None and uidx in users:  # an untrained item loses this user
            users.remove(uidx)
            self._user_items[uidx].remove(iidx)
            self._stale.add(iidx)

    def all_stale(self) -> None:
        """Every tracked item waits for a vector (a new factor space was installed)."""
        self._stale = set(self._item_users)

    def has_users(self, iidx: int) -> bool:
        """Whether the item has positives since the fit (behaviour outranks content)."""
        return iidx in self._item_users

    def touched(self) -> list[int]:
        """Every untrained item with positives since the fit."""
        return list(self._item_users)

    # -- giving them vectors --------------------------------------------------------------

    @property
    def backlog(self) -> int:
        """How many new items wait for their vectors."""
        return len(self._stale)

    def refresh(self) -> bool:
        """Spend up to ``budget`` giving waiting items their vectors; True if more wait."""
        if self._stale:
            self._refresh(self.budget)
        return bool(self._stale)

    def refresh_few(self) -> None:
        """After a write: every waiting item, or with a budget, one budgeted slice of them.

        Without a budget (replays, tests) the next read is exact. With one (serving) the
        writer spends at most a slice (a chunk of items whose users add up to ~64) and
        leaves the rest to ``refresh``: 32 new items with 300 users each were 9,600 user
        solves, ~120 ms of the write lock in one ingest.
        """
        if self._stale:
            self._refresh(self.budget)

    def refresh_all(self) -> None:
        """Give every waiting item its vector now, whatever the budget (start-up)."""
        if self._stale:
            self._refresh(None)

    def _refresh(self, budget: float | None) -> None:
        """Give untrained items with positives a vector from their users' vectors.

        Each item needs its users' vectors (a solve for each user not solved since their
        last positive on a trained item), so a burst of events on new items is a backlog of
        seconds: with a ``budget`` (seconds) it is worked off a chunk of items at a time,
        each chunk finished (users solved, items solved, the index told) before the clock
        is read; the rest stay stale.
        """
        pending = self._stale
        deadline = None if budget is None else time.perf_counter() + budget
        while pending:
            chunk = self._take_chunk(None if deadline is None else REFRESH_CHUNK_USERS)
            try:
                self._space.ensure_rows(max(max(chunk), max(pending, default=-1)) + 1)
                self._solve_users_of(chunk)
                self._solve_items(chunk)
            except BaseException:  # still stale: a later refresh retries them
                pending.update(chunk)
                raise
            self._space.rows_changed(chunk)
            if deadline is not None and time.perf_counter() > deadline:
                return

    def _take_chunk(self, users: int | None) -> list[int]:
        """Waiting items whose users add up to about ``users`` (None: all of them)."""
        pending = self._stale
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

    def _solve_items(self, items: list[int]) -> None:
        """The closed-form ALS item step against each item's users' vectors."""
        confidence = self.config.alpha
        weight = confidence - 1.0
        user_base, user_base_inverse = self._space.item_system()
        single_items: list[int] = []
        single_users: list[FloatArray] = []
        solved_items: list[int] = []
        solved: list[FloatArray] = []
        for iidx in items:
            found = self._users_vectors(iidx)
            if len(found) == 1:
                single_items.append(iidx)
                single_users.append(found[0])
            elif found:
                users = np.array(found)
                lhs = np.add(user_base, weight * (users.T @ users))
                solved_items.append(iidx)
                solved.append(als.solve_spd(lhs, confidence * np.add.reduce(users)))
            elif iidx in self._item_users:  # every positive withdrawn (dislikes): no opinion
                solved_items.append(iidx)
                solved.append(np.zeros(self.config.factors))
        if solved_items:
            self._space.write_rows(solved_items, np.array(solved))
        if not single_items:
            return
        # One user: (B + w v vᵀ) x = α v has the closed form x = α z / (1 + w v·z) with
        # z = B⁻¹ v (Sherman-Morrison), so every such item is three numpy calls in all.
        users = np.array(single_users)
        z = users @ user_base_inverse  # B is symmetric
        denominator = 1.0 + weight * np.einsum("ij,ij->i", users, z)
        if denominator.min() > 1e-9:  # always, unless alpha < 1
            self._space.write_rows(single_items, z * (confidence / denominator)[:, None])
            return
        vectors = [
            als.solve_spd(user_base + weight * np.multiply.outer(user, user), confidence * user)
            for user in single_users
        ]
        self._space.write_rows(single_items, np.array(vectors))

    def _users_of(self, iidx: int) -> list[int]:
        """The item's newest ``fold_in_max_items`` users: what its vector is solved from.

        The mirror of a user's fold-in, which counts their newest items; it bounds the cost
        of an item that many users liked before any retrain.
        """
        return self._item_users.get(iidx, [])[-self.config.fold_in_max_items :]

    def _solve_users_of(self, items: list[int]) -> None:
        """Solve, in batches, the users of ``items`` who have no current vector."""
        space = self._space
        has_vector = space.fold_in.has_vector
        users = {u for iidx in items for u in self._users_of(iidx) if not has_vector(u)}
        if not users:
            return
        order = list(users)
        lists = [space.fold_in_items(u) for u in order]
        vectors = als.solve_item_lists(self.config, space.user_system(), space.item_factors, lists)
        # A user with no trained positive has no vector.
        space.fold_in.put_solved(
            (uidx, vector)
            for uidx, liked, vector in zip(order, lists, vectors, strict=True)
            if liked
        )

    def _users_vectors(self, iidx: int) -> list[FloatArray]:
        """The vectors of the users who liked a new item (those who have one)."""
        vector_of = self._space.user_vector
        return [v for u in self._users_of(iidx) if (v := vector_of(u)) is not None]
