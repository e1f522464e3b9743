"""Per-user recent history, seen set and negative set."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class UserHistory:
    """One user's online state.

    ``recent`` holds the newest events as ``(iidx, timestamp, weight)``, oldest first,
    bounded; ``seen`` the items the user interacted with (the default exclusion), in order
    of first interaction, the newest ``max_seen_items`` of them; ``negative`` items the user
    rejected (never recommended again, until a positive event on them). The fold-in profile
    lives in the factor model.
    """

    recent: deque[tuple[int, float, float]]
    seen: dict[int, None] = field(default_factory=dict)
    negative: set[int] = field(default_factory=set)
    events: int = 0


class UserHistories:
    """Histories of every user, indexed by ``uidx``."""

    def __init__(self, max_recent_events: int, max_seen_items: int = 10_000) -> None:
        self.max_recent_events = max_recent_events
        # A user past this many distinct items (a crawler, a test account) forgets the
        # oldest: those may be recommended to them again, and memory stays bounded.
        self.max_seen_items = max_seen_items
        self._users: list[UserHistory] = []

    def get(self, uidx: int) -> UserHistory | None:
        """Return the history of ``uidx`` or None when it has no events."""
        return self._users[uidx] if uidx < len(self._users) else None

    def _ensure(self, uidx: int) -> UserHistory:
        while len(self._users) <= uidx:
            self._users.append(UserHistory(deque(maxlen=self.max_recent_events)))
        return self._users[uidx]

    def record(self, uidx: int, iidx: int, timestamp: float, weight: float) -> None:
        """Apply one event: negative weights mark a rejection, others extend the history."""
        self.record_all([uidx], [iidx], [timestamp], [weight])

    def record_all(
        self,
        uidx: list[int],
        iidx: list[int],
        timestamps: list[float],
        weights: list[float],
    ) -> None:
        """Apply events in order, as ``record`` would one by one."""
        users, cap = self._users, self.max_seen_items
        if uidx:
            self._ensure(max(uidx))
        for u, i, timestamp, weight in zip(uidx, iidx, timestamps, weights, strict=True):
            user = users[u]
            user.events += 1
            seen = user.seen
            if i not in seen:
                seen[i] = None
                if len(seen) > cap:
                    del seen[next(iter(seen))]  # the oldest first interaction
            if weight < 0:
                user.negative.add(i)
                continue
            if user.negative:
                user.negative.discard(i)
            user.recent.append((i, timestamp, weight))

    def recent_items(self, uidx: int, n: int) -> list[int]:
        """Return the user's last ``n`` distinct-or-not items, oldest first."""
        user = self.get(uidx)
        if user is None:
            return []
        recent = user.recent
        start = max(0, len(recent) - n)
        return [recent[k][0] for k in range(start, len(recent))]

    def __len__(self) -> int:
        return len(self._users)
