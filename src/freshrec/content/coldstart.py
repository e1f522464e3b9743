"""Collaborative coordinates for items nobody has touched yet, predicted from their content.

After each retrain, a ridge regression learns to map an item's fused content vector to its
ALS item factors, on the items that have both. An item with no events gets ``predict``'s
factors, so the factor source can score it for every user from the moment it is encoded;
its first events then fold it in from behaviour as usual. On MovieLens-100K this ranks
held-out items ~7x better than random order and ahead of a TF-IDF profile
(docs/benchmarks.md, item cold start).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatMatrix = npt.NDArray[np.floating]

# Below this many items with both content and factors the regression would mostly fit noise.
MIN_TRAINING_ITEMS = 50


class ContentToFactors:
    """Ridge regression with intercept from content vectors to item factors.

    Args:
        l2: ridge penalty (chosen by measurement on item cold start).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> content = rng.normal(size=(200, 8))
        >>> factors = content @ rng.normal(size=(8, 3))
        >>> mapping = ContentToFactors(l2=1e-3)
        >>> mapping.fit(content, factors)
        True
        >>> bool(np.allclose(mapping.predict(content), factors, atol=1e-3))
        True
    """

    def __init__(self, l2: float) -> None:
        self.l2 = l2
        self._weights: npt.NDArray[np.float64] | None = None
        # Bumped by every successful fit: predictions made before it are stale.
        self.generation = 0

    @property
    def fitted(self) -> bool:
        """Whether ``predict`` has weights to use."""
        return self._weights is not None

    def fit(self, content: FloatMatrix, factors: FloatMatrix) -> bool:
        """Learn the mapping from rows of ``content`` [n, d] to rows of ``factors`` [n, k].

        Returns False (and keeps the previous weights) with too few rows to learn from.
        """
        if len(content) < MIN_TRAINING_ITEMS or content.shape[1] == 0:
            return False
        # The normal equations of [content, 1] without building that wider copy: the
        # intercept's row and column of the Gram matrix are the column sums and the count.
        x = np.ascontiguousarray(content, dtype=np.float32)
        d = x.shape[1]
        gram = np.empty((d + 1, d + 1), dtype=np.float64)
        gram[:d, :d] = x.T @ x  # float32 products: half the time of float64 at this size
        gram[:d, :d][np.diag_indices(d)] += self.l2  # the intercept is not shrunk
        sums = x.sum(axis=0, dtype=np.float64)
        gram[:d, d] = gram[d, :d] = sums
        gram[d, d] = len(x)
        moments = np.empty((d + 1, factors.shape[1]), dtype=np.float64)
        moments[:d] = x.T @ factors.astype(np.float32, copy=False)
        moments[d] = factors.sum(axis=0, dtype=np.float64)
        self._weights = np.asarray(np.linalg.solve(gram, moments), dtype=np.float64)
        self.generation += 1
        return True

    def predict(self, content: FloatMatrix) -> npt.NDArray[np.float64]:
        """Predicted factors, shape [n, k]. Raises RuntimeError before a successful fit."""
        if self._weights is None:
            raise RuntimeError("ContentToFactors.predict before fit")
        # x @ W[:-1] + W[-1] is the intercept model without copying x into a wider matrix;
        # float32 products, as in the fit (the content is float32 to begin with).
        weights = self._weights.astype(np.float32)
        predicted = (np.asarray(content, dtype=np.float32) @ weights[:-1]).astype(np.float64)
        predicted += self._weights[-1]
        return predicted


class PredictionCache:
    """Predicted factors per item, kept while neither the mapping nor any content changed.

    A retrain places content-predicted factors on every item without behaviour (most of a
    large catalogue), while the mapping is refitted only now and then: without the cache each
    retrain re-fused and re-predicted the same 10,000 rows (a fifth of a 12,500-item replay).
    ``key`` is whatever identifies the inputs (the mapping's generation, the content tables'
    change counters); a new key empties the cache. Thread-safe: a retrain computes placements
    on its own thread while the encoder's results are placed under the engine's lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: object = None
        self._rows = np.zeros((0, 0), dtype=np.float64)
        self._valid = np.zeros(0, dtype=np.bool_)

    def get(
        self,
        key: object,
        iidxs: npt.NDArray[np.int64],
        predict: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float64]],
    ) -> npt.NDArray[np.float64]:
        """Rows for ``iidxs``, calling ``predict`` only on those not cached under ``key``."""
        with self._lock:
            if key != self._key:  # start over: no row of the old key is valid
                self._key = key
                self._rows = np.zeros((0, 0), dtype=np.float64)
                self._valid = np.zeros(0, dtype=np.bool_)
            size = int(iidxs.max()) + 1 if len(iidxs) else 0
            if size > len(self._valid):
                self._grow(max(size, 2 * len(self._valid)))
            missing = iidxs[~self._valid[iidxs]]
            if len(missing):
                predicted = predict(missing)
                if self._rows.shape[1] != predicted.shape[1]:
                    # The first prediction under this key: nothing is valid yet.
                    self._rows = np.zeros((len(self._valid), predicted.shape[1]), dtype=np.float64)
                self._rows[missing] = predicted
                self._valid[missing] = True
            return self._rows[iidxs]

    def _grow(self, size: int) -> None:
        rows = np.zeros((size, self._rows.shape[1]), dtype=np.float64)
        rows[: len(self._rows)] = self._rows
        valid = np.zeros(size, dtype=np.bool_)
        valid[: len(self._valid)] = self._valid
        self._rows, self._valid = rows, valid
