"""Exact top-n selection: the block-bounded shortcut picks what a full partition picks."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.retrieval.topk import BLOCK, best_unordered, top_n


def reference(scores: np.ndarray, n: int) -> list[int]:
    """The n best, ties by lower index, by a full stable sort."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    return order[:n].tolist()


@pytest.mark.parametrize("size", [1, 7, BLOCK, BLOCK * 10 + 3, 12_500])
@pytest.mark.parametrize("n", [1, 10, 100])
def test_best_unordered_is_the_set_of_the_n_largest(size: int, n: int) -> None:
    rng = np.random.default_rng(size * 1_000 + n)
    scores = rng.random(size)
    assert sorted(best_unordered(scores, n).tolist()) == sorted(reference(scores, n))


def test_a_few_large_scores_in_one_block_are_all_found() -> None:
    # Every winner in the same block: the bound comes from other blocks' maxima.
    scores = np.zeros(BLOCK * 50)
    scores[5:15] = np.arange(10, 0, -1)
    assert sorted(best_unordered(scores, 10).tolist()) == list(range(5, 15))


def test_masked_and_tied_scores_keep_top_ns_contract() -> None:
    rng = np.random.default_rng(3)
    scores = np.round(rng.random(5_000), 2)  # many ties
    allowed = rng.random(5_000) < 0.5
    got = top_n(scores, 50, allowed)
    assert got.tolist() == reference(np.where(allowed, scores, -np.inf), 50)
    assert top_n(scores, 0).tolist() == []
    assert best_unordered(scores, 0).tolist() == []


def test_fewer_allowed_than_asked_returns_only_those() -> None:
    scores = np.arange(1_000, dtype=np.float64)
    allowed = np.zeros(1_000, dtype=np.bool_)
    allowed[[3, 500]] = True
    assert top_n(scores, 10, allowed).tolist() == [500, 3]


@pytest.mark.parametrize("size", [200, 12_500])
def test_a_nan_score_never_shortens_the_answer(size: int) -> None:
    scores = np.random.default_rng(0).random(size)
    scores[3] = np.nan
    assert len(best_unordered(scores, 10)) == 10
    assert len(top_n(scores, 1)) == 1
