"""Exponentially time-decayed item popularity."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

# Scores are kept relative to a reference time; past this growth factor they are rescaled so
# float64 never overflows (exp(600) is far below the float64 limit of ~exp(709)).
_MAX_LOG_SCALE = 600.0
# Up to this many events, ``add_many`` adds one at a time (cheaper than a numpy call).
_SMALL_BATCH = 8


class DecayedPopularity:
    """Popularity where an event of weight ``w`` at time ``t`` counts ``w * 2**((t - now) / h)``.

    Storing ``w * 2**((t - t_ref) / h)`` makes an update O(1) and keeps every item's score on
    the same clock; the decay is applied only when the scores are read.
    """

    def __init__(self, half_life_seconds: float) -> None:
        self._rate = math.log(2.0) / half_life_seconds
        self._ref: float | None = None  # the clock starts at the first event
        self._latest = 0.0
        self._scores = np.zeros(0, dtype=np.float64)

    def _grow(self, n_items: int) -> None:
        if n_items > len(self._scores):
            grown = np.zeros(max(n_items, 2 * len(self._scores)), dtype=np.float64)
            grown[: len(self._scores)] = self._scores
            self._scores = grown

    def add(self, iidx: int, timestamp: float, weight: float) -> None:
        """Count one event; timestamps may arrive slightly out of order."""
        self._grow(iidx + 1)
        if self._ref is None:
            self._ref = self._latest = timestamp
        log_scale = (timestamp - self._ref) * self._rate
        if log_scale > _MAX_LOG_SCALE:
            self._scores *= math.exp(-log_scale)
            self._ref = timestamp
            log_scale = 0.0
        self._scores[iidx] += weight * math.exp(log_scale)
        self._latest = max(self._latest, timestamp)

    def add_many(self, iidx: list[int], timestamps: list[float], weights: list[float]) -> None:
        """Count several events, in order; the same result as calling ``add`` for each."""
        if len(iidx) <= _SMALL_BATCH or (
            self._ref is None or max(timestamps) - self._ref > _MAX_LOG_SCALE / self._rate / 2
        ):
            # A few events, the first event or one near a rescale: one at a time.
            for i, t, w in zip(iidx, timestamps, weights, strict=True):
                self.add(i, t, w)
            return
        self._grow(max(iidx) + 1)
        ref, rate, exp = self._ref, self._rate, math.exp
        # math.exp, not np.exp: numpy's vectorised exp may differ in the last bit, and a
        # count must not depend on how its events were batched.
        grown = [w * exp((t - ref) * rate) for t, w in zip(timestamps, weights, strict=True)]
        np.add.at(self._scores, np.array(iidx, dtype=np.int64), np.array(grown))
        self._latest = max(self._latest, max(timestamps))

    def scores(self, n_items: int) -> npt.NDArray[np.float64]:
        """Return decayed scores as of the newest event, shape [n_items], float64 (a copy)."""
        factor = 1.0 if self._ref is None else math.exp(-(self._latest - self._ref) * self._rate)
        if n_items <= len(self._scores):
            scaled: npt.NDArray[np.float64] = self._scores[:n_items] * factor
            return scaled
        out = np.zeros(n_items, dtype=np.float64)
        out[: len(self._scores)] = self._scores * factor
        return out
