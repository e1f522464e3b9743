"""A bounded, thread-safe LRU of recommendation answers.

Callers key each answer on everything it depends on, including ``Engine.freshness(user_id)``
(the user's event count, the catalogue version and the model version), read *before* the
answer is computed. A new event changes the key, so a cached answer never hides it; an
answer computed after a concurrent event is at worst filed under the older key, which no
later lookup produces.

>>> cache = RecommendationCache(max_entries=2)
>>> cache.get("a") is None
True
>>> cache.put("a", [1]); cache.get("a")
[1]
>>> cache.hits, cache.misses
(1, 1)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class RecommendationCache:
    """Least-recently-used map from a request key to its answer.

    Values are shared between callers, so store immutable ones (tuples, frozen records).

    Args:
        max_entries: how many answers to keep (0 disables caching).
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Any | None:
        """Return the answer stored under ``key`` (marking it recently used), or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value`` under ``key``, evicting the least recently used beyond the bound."""
        if self.max_entries == 0:
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
