"""What the dashboard shows about live traffic: event rate, its series and most-interacted items.

Counts only the events this server process accepted (valid events, duplicates included),
in one-second buckets over a sliding window; it is a view of traffic, not of the log.

>>> activity = EventActivity(window_seconds=60)
>>> activity.record(["a", "b", "a"], now=100.0)
>>> activity.top_items(1, now=100.0)
[('a', 2)]
>>> activity.rate(10, now=100.0)
0.3
>>> activity.series(10, now=100.0)[-2:]
[(90, 0), (100, 3)]
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Iterable


class EventActivity:
    """Sliding-window event counts per second and per item; thread-safe.

    Args:
        window_seconds: how far back rates and top items look, at most.
    """

    def __init__(self, window_seconds: int = 300) -> None:
        self.window_seconds = window_seconds
        self.total = 0
        self._buckets: deque[tuple[int, Counter[str]]] = deque()
        self._lock = threading.Lock()

    def record(self, item_ids: Iterable[str], now: float | None = None) -> None:
        """Count one event per item id at time ``now`` (unix seconds; default: the clock)."""
        second = int(time.time() if now is None else now)
        ids = list(item_ids)
        with self._lock:
            if not self._buckets or self._buckets[-1][0] != second:
                self._buckets.append((second, Counter()))
            # Counting an iterable runs in C; merging one Counter into another is a Python
            # loop per item (it showed in profiles of 500-event ingest batches).
            self._buckets[-1][1].update(ids)
            self.total += len(ids)
            self._expire(second)

    def _expire(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] <= second - self.window_seconds:
            self._buckets.popleft()

    def rate(self, seconds: int, now: float | None = None) -> float:
        """Return events per second over the last ``seconds`` (capped at the window)."""
        current = int(time.time() if now is None else now)
        seconds = max(1, min(seconds, self.window_seconds))
        with self._lock:
            self._expire(current)
            count = sum(c.total() for s, c in self._buckets if s > current - seconds)
        return count / seconds

    def top_items(self, k: int, now: float | None = None) -> list[tuple[str, int]]:
        """Return the ``k`` items with most events in the window, most first."""
        current = int(time.time() if now is None else now)
        with self._lock:
            self._expire(current)
            total: Counter[str] = Counter()
            for _, counts in self._buckets:
                total.update(counts)
        return total.most_common(k)

    def series(self, bucket_seconds: int, now: float | None = None) -> list[tuple[int, int]]:
        """Return ``(bucket start, events)`` per ``bucket_seconds`` over the window, oldest first.

        Buckets are aligned to multiples of ``bucket_seconds`` in unix seconds; the last one
        holds ``now`` (so it may be partly elapsed); buckets without events count 0. Covers
        ``window_seconds // bucket_seconds`` buckets (at least one).
        """
        current = int(time.time() if now is None else now)
        bucket_seconds = max(1, bucket_seconds)
        last = current - current % bucket_seconds
        n_buckets = max(1, self.window_seconds // bucket_seconds)
        first = last - (n_buckets - 1) * bucket_seconds
        counts = dict.fromkeys(range(first, last + 1, bucket_seconds), 0)
        with self._lock:
            self._expire(current)
            for second, per_item in self._buckets:
                start = second - second % bucket_seconds
                if start in counts:
                    counts[start] += per_item.total()
        return list(counts.items())
