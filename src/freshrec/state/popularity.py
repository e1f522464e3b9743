"""Exponentially time-decayed item popularity."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

# Scores are kept relative to a reference time; past this growth factor they are rescaled so
# float64 never overflows (exp(600) is far below the float64 limit of ~exp(709)).
_MAX_LOG_SCALE = 600.0


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

    def scores(self, n_items: int) -> npt.NDArray[np.float64]:
        """Return decayed scores as of the newest event, shape [n_items], float64 (a copy)."""
        factor = 1.0 if self._ref is None else math.exp(-(self._latest - self._ref) * self._rate)
        if n_items <= len(self._scores):
            scaled: npt.NDArray[np.float64] = self._scores[:n_items] * factor
            return scaled
        out = np.zeros(n_items, dtype=np.float64)
        out[: len(self._scores)] = self._scores * factor
        return out
