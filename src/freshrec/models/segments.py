"""What is popular among people like this one: trending per user segment.

A segment is one property value (``country=fr``, ``plan=pro``; numbers fall into buckets:
``age=20-29``). A brand-new user who told us who they are is served what their segments
favour before they have clicked anything — demographic cold start — and the scores keep
decaying like trending, so a segment's taste can move.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from freshrec.config import TrendingConfig
from freshrec.models.base import EventBatch, FloatArray, IntArray, ScoringModel
from freshrec.state.popularity import DecayedPopularity, HotList

# Numbers are bucketed this wide so "age=34" and "age=36" share evidence.
NUMERIC_BUCKET = 10.0
# Longer strings (a bio, an address) are not segment values.
MAX_VALUE_LENGTH = 64
# Undeclared properties: a key with more distinct values than this (an e-mail, a zip code)
# never segments, and a value needs this many users before it becomes a segment.
MAX_VALUES_PER_KEY = 50
MIN_SEGMENT_USERS = 5


def segments_of(properties: Mapping[str, Any], keys: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Return the segment names of a user's properties (only ``keys`` when given).

    Strings, booleans and numbers make segments; lists make one per element; nested objects
    and long strings are skipped.

    Example:
        >>> segments_of({"age": 34, "country": "fr", "tags": ["a", "b"], "bio": {"x": 1}})
        ('age=30-39', 'country=fr', 'tags=a', 'tags=b')
    """
    out: list[str] = []
    for key in sorted(properties):
        if keys and key not in keys:
            continue
        value = properties[key]
        for element in value if isinstance(value, list) else [value]:
            name = _segment_value(element)
            if name is not None:
                out.append(f"{key}={name}")
    return tuple(out)


def _segment_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return None
        low = math.floor(value / NUMERIC_BUCKET) * NUMERIC_BUCKET
        return f"{low:g}-{low + NUMERIC_BUCKET - 1:g}"
    if isinstance(value, str) and 0 < len(value) <= MAX_VALUE_LENGTH:
        return value.strip().lower()
    return None


class SegmentTrending(ScoringModel):
    """Decayed popularity per segment; a user scores the mean of their segments' lists.

    Each segment's scores are scaled to a maximum of 1 before averaging, so a large segment
    does not drown a small, more specific one.
    """

    name = "segments"

    def __init__(
        self,
        config: TrendingConfig,
        keys: tuple[str, ...] = (),
        max_values_per_key: int = MAX_VALUES_PER_KEY,
        min_users: int = MIN_SEGMENT_USERS,
    ) -> None:
        self.config = config
        self.keys = keys
        self.max_values_per_key = max_values_per_key
        self.min_users = min_users
        # Undeclared properties: distinct values per key (until the key has too many and is
        # dropped for good), and the users of each value until it has enough of them.
        self._key_values: dict[str, set[str]] = {}
        self._dropped_keys: set[str] = set()
        self._waiting: dict[str, list[int]] = {}
        self._user_segments: dict[int, tuple[int, ...]] = {}
        self._segment_ids: dict[str, int] = {}
        self._popularity: list[DecayedPopularity] = []
        self._hot: list[HotList] = []  # per segment, for candidate retrieval

    def set_user(self, uidx: int, properties: Mapping[str, Any]) -> None:
        """Record (or replace) the segments of a user from their properties.

        Declared keys (``keys``) always segment. Without a declaration, a value becomes a
        segment only once ``min_users`` users carry it, and a key with more than
        ``max_values_per_key`` distinct values (an e-mail, a zip code) never segments: each
        segment holds a count per item, so one per e-mail grew memory with users x items.
        """
        ids = []
        for name in segments_of(properties, self.keys):
            if name not in self._segment_ids and not self.keys and not self._supported(name, uidx):
                continue
            if name not in self._segment_ids:
                self._new_segment(name)
            ids.append(self._segment_ids[name])
        if ids:
            self._user_segments[uidx] = tuple(ids)
        else:
            self._user_segments.pop(uidx, None)

    def _supported(self, name: str, uidx: int) -> bool:
        """Whether an undeclared segment has enough users now (its waiting users join it)."""
        key, _, value = name.partition("=")
        if key in self._dropped_keys:
            return False
        values = self._key_values.setdefault(key, set())
        values.add(value)
        if len(values) > self.max_values_per_key:  # high cardinality: never a segment
            self._dropped_keys.add(key)
            del self._key_values[key]
            for other in [n for n in self._waiting if n.partition("=")[0] == key]:
                del self._waiting[other]
            return False
        waiting = self._waiting.setdefault(name, [])
        if uidx not in waiting:
            waiting.append(uidx)
        if len(waiting) < self.min_users:
            return False
        del self._waiting[name]
        segment = self._new_segment(name)
        for earlier in waiting:  # they carried it before it had support
            if earlier != uidx:
                self._user_segments[earlier] = (*self._user_segments.get(earlier, ()), segment)
        return True

    def _new_popularity(self) -> DecayedPopularity:
        return DecayedPopularity(self.config.half_life_seconds, self.config.max_gap_seconds)

    def _new_segment(self, name: str) -> int:
        self._segment_ids[name] = len(self._popularity)
        popularity = self._new_popularity()
        self._popularity.append(popularity)
        self._hot.append(HotList(popularity))
        return self._segment_ids[name]

    def has_user(self, uidx: int) -> bool:
        """Whether the user has at least one segment."""
        return uidx in self._user_segments

    def fit(self, events: EventBatch) -> None:
        """Recount every segment from scratch (user segments are kept)."""
        self._popularity = [self._new_popularity() for _ in self._popularity]
        self._hot = [HotList(popularity) for popularity in self._popularity]
        self.partial_fit(events)

    def partial_fit(self, events: EventBatch) -> None:
        """Count each positive-weight event in every segment of its user."""
        if not self._user_segments:
            return
        segments = self._user_segments
        for uidx, iidx, timestamp, weight in zip(
            events.uidx.tolist(),
            events.iidx.tolist(),
            events.timestamp.tolist(),
            events.weight.tolist(),
            strict=True,
        ):
            if weight <= 0:
                continue
            for segment in segments.get(uidx, ()):
                self._popularity[segment].add(iidx, timestamp, weight)

    def user_segments(self, uidx: int) -> tuple[int, ...]:
        """The segment ids of a known user (empty without segments)."""
        return self._user_segments.get(uidx, ())

    def property_segments(self, properties: Mapping[str, Any]) -> tuple[int, ...]:
        """The segment ids of someone known only by their properties (no index yet)."""
        names = segments_of(properties, self.keys)
        return tuple(self._segment_ids[name] for name in names if name in self._segment_ids)

    def score_user(self, uidx: int, n_items: int) -> FloatArray | None:
        """Mean of the user's segments' scaled popularity; None without segments."""
        return self._score(self.user_segments(uidx), n_items)

    def score_properties(self, properties: Mapping[str, Any], n_items: int) -> FloatArray | None:
        """Score for someone known only by their properties (no events, no index yet)."""
        return self._score(self.property_segments(properties), n_items)

    def hot(self, ids: Sequence[int], k: int, max_age_seconds: float) -> IntArray:
        """The ``k`` hottest items of each segment in ``ids``, together (candidates)."""
        lists = [self._hot[segment].top(k, max_age_seconds) for segment in ids]
        return np.concatenate(lists) if lists else np.zeros(0, dtype=np.int64)

    def scores_at(
        self, ids: Sequence[int], items: IntArray, max_age_seconds: float
    ) -> FloatArray | None:
        """``_score``'s values at ``items``; each segment is scaled by its hottest item."""
        if not ids:
            return None
        total = np.zeros(len(items), dtype=np.float64)
        for segment in ids:
            popularity = self._popularity[segment]
            hottest = self._hot[segment].top(1, max_age_seconds)
            top = float(popularity.at(hottest)[0]) if len(hottest) else 0.0
            if top > 0:
                total += popularity.at(items) / top
        return total if total.any() else None

    def score_ids(self, ids: Sequence[int], n_items: int) -> FloatArray | None:
        """The mean scaled popularity of segments ``ids`` (see ``user_segments``)."""
        return self._score(ids, n_items)

    def _score(self, ids: Sequence[int], n_items: int) -> FloatArray | None:
        if not ids:
            return None
        total = np.zeros(n_items, dtype=np.float64)
        for segment in ids:
            scores = self._popularity[segment].scores(n_items)
            top = float(scores.max()) if n_items else 0.0
            if top > 0:
                total += scores / top
        return total if total.any() else None

    def score_item(self, iidx: int, n_items: int) -> FloatArray | None:
        """Segments say nothing about item similarity."""
        return None
