"""The candidate-source contract (``freshrec.sources.CandidateSource``), as a test class.

What the blend relies on, checked for each user a case lists: dense and point scores agree,
every array is new and float64 of the right shape, nominees are valid distinct items among
which the source's best item is, ``nonnegative`` is honest, and reading changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from freshrec.sources.base import Asker, CandidateSource

NOMINEES = 10


@dataclass
class SourceCase:
    """A source under test and the users to ask it about (include an unknown one)."""

    source: CandidateSource
    users: list[Asker]


class SourceContract:
    """Subclass and provide a ``case`` fixture returning a ``SourceCase``."""

    @pytest.fixture
    def case(self) -> SourceCase:
        raise NotImplementedError("a contract subclass provides the case fixture")

    def test_it_is_a_candidate_source_with_a_name(self, case: SourceCase) -> None:
        assert isinstance(case.source, CandidateSource)
        assert isinstance(case.source.name, str) and case.source.name
        assert isinstance(case.source.nonnegative, bool)

    def test_it_has_an_opinion_for_some_user(self, case: SourceCase) -> None:
        assert any(case.source.score(user, None) is not None for user in case.users)

    def test_scores_cover_every_item_as_new_float64_arrays(self, case: SourceCase) -> None:
        for user in case.users:
            first = case.source.score(user, None)
            if first is None:
                continue
            assert first.dtype == np.float64 and first.shape == (user.n_items,)
            assert np.isfinite(first).all()
            kept = first.copy()
            first[:] = -1.0  # the blend scales in place: the next answer must not see it
            again = case.source.score(user, None)
            assert again is not None and np.array_equal(again, kept)

    def test_point_scores_equal_the_dense_scores(self, case: SourceCase) -> None:
        for user in case.users:
            dense = case.source.score(user, None)
            items = np.arange(0, user.n_items + 3, dtype=np.int64)[::-1].copy()
            at = case.source.score(user, items)
            if dense is None:
                assert at is None or not np.any(at)
                continue
            assert at is not None and at.dtype == np.float64 and at.shape == items.shape
            expected = np.zeros(len(items))
            inside = items < user.n_items
            expected[inside] = dense[items[inside]]
            np.testing.assert_allclose(at, expected, rtol=1e-5, atol=1e-7)

    def test_nominees_are_distinct_items_holding_the_best_one(self, case: SourceCase) -> None:
        for user in case.users:
            nominees = case.source.propose(user, NOMINEES)
            dense = case.source.score(user, None)
            if nominees is None or not len(nominees):
                continue
            assert nominees.dtype == np.int64 and len(nominees) <= NOMINEES
            assert len(np.unique(nominees)) == len(nominees)
            assert nominees.min() >= 0 and nominees.max() < user.n_items
            assert dense is not None and dense.max() > 0
            # The blend scales a source by its maximum over candidates: it must be there.
            assert np.isclose(dense[nominees].max(), dense.max(), rtol=1e-5)

    def test_nonnegative_is_honest(self, case: SourceCase) -> None:
        if not case.source.nonnegative:
            return
        for user in case.users:
            dense = case.source.score(user, None)
            assert dense is None or dense.min() >= 0

    def test_reading_is_repeatable(self, case: SourceCase) -> None:
        for user in case.users:
            first = case.source.propose(user, NOMINEES)
            second = case.source.propose(user, NOMINEES)
            if first is None:
                assert second is None
                continue
            assert second is not None and set(first.tolist()) == set(second.tolist())
