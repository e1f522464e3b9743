"""The cache of content-predicted factors: computed once per key, recomputed when it changes."""

from __future__ import annotations

import numpy as np

from freshrec.content.coldstart import PredictionCache


class CountingPredictor:
    """Predicts ``[iidx * scale, -iidx * scale]`` and counts the rows it was asked for."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.rows_asked = 0

    def __call__(self, iidxs: np.ndarray) -> np.ndarray:
        self.rows_asked += len(iidxs)
        return np.stack([iidxs * self.scale, -iidxs * self.scale], axis=1).astype(np.float64)


def test_rows_are_predicted_once_per_key() -> None:
    cache, predict = PredictionCache(), CountingPredictor(1.0)
    first = cache.get("k1", np.array([3, 1, 7]), predict)
    again = cache.get("k1", np.array([7, 3, 9]), predict)
    assert predict.rows_asked == 4  # 3, 1, 7 then only 9
    np.testing.assert_array_equal(first[:, 0], [3.0, 1.0, 7.0])
    np.testing.assert_array_equal(again, [[7.0, -7.0], [3.0, -3.0], [9.0, -9.0]])


def test_a_new_key_recomputes_every_row_even_for_a_smaller_catalogue() -> None:
    cache = PredictionCache()
    cache.get("old", np.arange(200), CountingPredictor(1.0))
    fresh = CountingPredictor(2.0)
    rows = cache.get("new", np.array([5, 2]), fresh)
    assert fresh.rows_asked == 2
    np.testing.assert_array_equal(rows, [[10.0, -10.0], [4.0, -4.0]])


def test_returned_rows_are_copies() -> None:
    cache, predict = PredictionCache(), CountingPredictor(1.0)
    rows = cache.get("k", np.array([1]), predict)
    rows[:] = 99.0
    np.testing.assert_array_equal(cache.get("k", np.array([1]), predict), [[1.0, -1.0]])
