"""A bounded, thread-safe LRU of rendered recommendation answers, each with an age limit.

Callers key each answer on everything *the user's own* inputs to it, including
``Engine.freshness(user_id)`` (the user's event count, the catalogue version and the model
version), read *before* the answer is computed. A new event of the user, an item upsert or a
retrain changes the key, so a cached answer never hides them; an answer computed after a
concurrent event is at worst filed under the older key, which no later lookup produces.

Other users' events (co-visitation, trending) change answers too, but keying on them would
make every event empty the whole cache. They are bounded in time instead: an answer older
than ``max_age_seconds`` is never served, so another user's event shows in every answer
within that bound (DESIGN.md, "Freshness").

Entries are rendered JSON bytes, bounded both by count and by bytes: an answer of n=1000
items is ~100 KB, so a count alone (100k entries) could grow to ~10 GB.

>>> cache = RecommendationCache(max_entries=2, max_age_seconds=60.0)
>>> cache.get("a") is None
True
>>> cache.put("a", b"[1]"); cache.get("a")
b'[1]'
>>> cache.hits, cache.misses, cache.bytes  # bytes: the answer and a fixed overhead
(1, 1, 403)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

# Bytes an entry costs beyond its value: the key tuple, the OrderedDict node and the stamp.
ENTRY_OVERHEAD_BYTES = 400


class RecommendationCache:
    """Least-recently-used map from a request key to its rendered answer, for a short while.

    Args:
        max_entries: how many answers to keep (0 disables caching).
        max_bytes: how many bytes of answers (plus a fixed overhead per entry) to keep.
        max_age_seconds: an answer older than this is dropped instead of served (0 disables
            caching: every answer is computed fresh).
        clock: monotonic seconds (tests pass their own).

    Raises:
        ValueError: a negative bound.
    """

    def __init__(
        self,
        max_entries: int = 100_000,
        max_bytes: int = 256 * 2**20,
        max_age_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 0 or max_bytes < 0 or max_age_seconds < 0:
            raise ValueError("cache bounds must be >= 0")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_seconds
        self.hits = 0
        self.misses = 0
        self.expired = 0  # misses because the answer had outlived ``max_age_seconds``
        self.bytes = 0
        self._clock = clock
        self._enabled = max_entries > 0 and max_bytes > 0 and max_age_seconds > 0
        # key -> (stored at, value, bytes counted for it)
        self._entries: OrderedDict[Hashable, tuple[float, Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Any:
        """Return the answer stored under ``key`` if still young enough (marking it used)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            stored_at, value, size = entry
            if self._clock() - stored_at > self.max_age_seconds:
                self._drop(key, size)
                self.misses += 1
                self.expired += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: Any, nbytes: int | None = None) -> None:
        """Store ``value`` under ``key``, evicting the least recently used beyond the bounds.

        ``nbytes``: what the value costs (default ``len(value)``, for bytes); a fixed
        overhead per entry is added.
        """
        if not self._enabled:
            return
        size = (len(value) if nbytes is None else nbytes) + ENTRY_OVERHEAD_BYTES
        if size > self.max_bytes:
            return  # larger than the whole cache: not worth evicting everything for
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[2]
            self._entries[key] = (self._clock(), value, size)
            self.bytes += size
            entries = self._entries
            while len(entries) > self.max_entries or self.bytes > self.max_bytes:
                _, (_, _, evicted) = entries.popitem(last=False)
                self.bytes -= evicted

    def clear(self) -> None:
        """Drop every answer."""
        with self._lock:
            self._entries.clear()
            self.bytes = 0

    def _drop(self, key: Hashable, size: int) -> None:
        del self._entries[key]
        self.bytes -= size
