"""Exponentially time-decayed item popularity."""

from __future__ import annotations

import bisect
import math
import time

import numpy as np
import numpy.typing as npt

# Scores are kept relative to a reference time; past this growth factor they are rescaled so
# float64 never overflows (exp(600) is far below the float64 limit of ~exp(709)).
_MAX_LOG_SCALE = 600.0
# Up to this many events, ``add_many`` adds one at a time (cheaper than a numpy call).
_SMALL_BATCH = 8


class EventClock:
    """The time popularity decays by: the events' own time, with long silences capped.

    Decay runs on the event clock, never the wall clock, and "now" is the newest event seen.
    That alone is not enough: a log imported from 30 days (or 28 years) ago followed by a few
    live events would make the log's counts ~2**-4 (or ~1e-44) of a live one, and two or
    three live clicks would decide what every new user sees. So a silence in the stream
    longer than ``max_gap_seconds`` counts as ``max_gap_seconds``: the clock moves with the
    activity, and evidence fades as newer evidence arrives, not while nothing happens.

    Mapping is piecewise: each capped gap starts a segment of raw time with its own shift;
    an event that arrives late is placed by the segment its raw time falls in.

    >>> clock = EventClock(max_gap_seconds=10.0)
    >>> [clock.place(t) for t in (100.0, 105.0, 1_000.0, 1_001.0, 104.0)]
    [100.0, 105.0, 115.0, 116.0, 104.0]
    """

    def __init__(self, max_gap_seconds: float = math.inf) -> None:
        self.max_gap_seconds = max_gap_seconds
        self._raw_starts: list[float] = []  # raw time where each segment starts
        self._shifts: list[float] = []  # raw minus clock time within each segment
        self._newest_raw = -math.inf
        self._newest = -math.inf  # clock time of the newest event

    def place(self, timestamp: float) -> float:
        """Return the clock time of an event at raw ``timestamp``, advancing the clock."""
        if timestamp >= self._newest_raw:
            shift = self._shifts[-1] if self._shifts else 0.0
            placed = timestamp - shift
            if placed - self._newest > self.max_gap_seconds and self._shifts:
                # A silence longer than the cap: it counts as the cap.
                placed = self._newest + self.max_gap_seconds
                self._raw_starts.append(timestamp)
                self._shifts.append(timestamp - placed)
            elif not self._shifts:
                self._raw_starts.append(timestamp)
                self._shifts.append(0.0)
            self._newest_raw, self._newest = timestamp, placed
            return placed
        segment = max(0, bisect.bisect_right(self._raw_starts, timestamp) - 1)
        placed = timestamp - self._shifts[segment]
        if segment + 1 < len(self._raw_starts):  # inside a capped gap: not past its end
            placed = min(placed, self._raw_starts[segment + 1] - self._shifts[segment + 1])
        return placed


class DecayedPopularity:
    """Popularity where an event of weight ``w`` at time ``t`` counts ``w * 2**((t - now) / h)``.

    Storing ``w * 2**((t - t_ref) / h)`` makes an update O(1) and keeps every item's score on
    the same clock; the decay is applied only when the scores are read. Times are on the
    ``EventClock`` (``now`` is the newest event; silences past ``max_gap_seconds`` are capped).
    """

    def __init__(self, half_life_seconds: float, max_gap_seconds: float = math.inf) -> None:
        self._clock = EventClock(max_gap_seconds)
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
        self._add_placed(iidx, self._clock.place(timestamp), weight)

    def _add_placed(self, iidx: int, timestamp: float, weight: float) -> None:
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
        place = self._clock.place
        timestamps = [place(t) for t in timestamps]
        if len(iidx) <= _SMALL_BATCH or (
            self._ref is None or max(timestamps) - self._ref > _MAX_LOG_SCALE / self._rate / 2
        ):
            # A few events, the first event or one near a rescale: one at a time.
            for i, t, w in zip(iidx, timestamps, weights, strict=True):
                self._add_placed(i, t, w)
            return
        self._grow(max(iidx) + 1)
        ref, rate, exp = self._ref, self._rate, math.exp
        # math.exp, not np.exp: numpy's vectorised exp may differ in the last bit, and a
        # count must not depend on how its events were batched.
        grown = [w * exp((t - ref) * rate) for t, w in zip(timestamps, weights, strict=True)]
        np.add.at(self._scores, np.array(iidx, dtype=np.int64), np.array(grown))
        self._latest = max(self._latest, max(timestamps))

    def _factor(self) -> float:
        return 1.0 if self._ref is None else math.exp(-(self._latest - self._ref) * self._rate)

    def at(self, items: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Return decayed scores of ``items`` (0 for items never counted), as ``scores`` would."""
        stored = self._scores
        inside = items < len(stored)
        if inside.all():
            picked: npt.NDArray[np.float64] = stored[items] * self._factor()
            return picked
        out = np.zeros(len(items), dtype=np.float64)
        out[inside] = stored[items[inside]] * self._factor()
        return out

    def top(self, k: int) -> npt.NDArray[np.int64]:
        """Return the ``k`` most popular counted items, best first (ties: lower index first)."""
        stored = self._scores
        # Only counted items can win. Partitioning just those also keeps numpy's introselect
        # off the long runs of zeros of a sparse count (a segment's): with them, one
        # argpartition of 200k entries took ~37 ms instead of ~1 ms.
        counted = np.flatnonzero(stored > 0)
        size = len(counted)
        if k <= 0 or size == 0:
            return np.zeros(0, dtype=np.int64)
        if k < size:
            counted = counted[np.argpartition(stored[counted], size - k)[size - k :]]
        return counted[np.lexsort((counted, -stored[counted]))].astype(np.int64, copy=False)

    def scores(self, n_items: int) -> npt.NDArray[np.float64]:
        """Return decayed scores as of the newest event, shape [n_items], float64 (a copy)."""
        factor = self._factor()
        if n_items <= len(self._scores):
            scaled: npt.NDArray[np.float64] = self._scores[:n_items] * factor
            return scaled
        out = np.zeros(n_items, dtype=np.float64)
        out[: len(self._scores)] = self._scores * factor
        return out


class HotList:
    """The most popular items of a ``DecayedPopularity``, recomputed at most every few seconds.

    Decay scales every item alike, so the order changes only with new events; a list at
    most ``max_age_seconds`` old (one partial sort of the catalogue per refresh, not per
    request) is what a request reads. Only membership can lag: callers score the listed
    items from the live counts.
    """

    def __init__(self, popularity: DecayedPopularity) -> None:
        self.popularity = popularity
        self._items = np.zeros(0, dtype=np.int64)
        self._k = 0
        self._made_at = -math.inf

    def top(self, k: int, max_age_seconds: float) -> npt.NDArray[np.int64]:
        """Return up to ``k`` hot items, best first (as of at most ``max_age_seconds`` ago)."""
        now = time.monotonic()
        if k > self._k or now - self._made_at > max_age_seconds:
            self._items, self._k, self._made_at = self.popularity.top(k), k, now
        return self._items[:k]
