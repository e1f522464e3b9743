"""Per-user recent history, seen set and negative set."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class UserHistory:
    """One user's online state.

    ``recent`` holds the newest events as ``(iidx, timestamp, weight)``, oldest first,
    bounded; ``seen`` every item the user ever interacted with (the default exclusion);
    ``negative`` items the user rejected (never recommended again); ``positives`` items with
    a positive preference signal, in order of first positive event (the fold-in profile).
    """

    recent: deque[tuple[int, float, float]]
    seen: set[int] = field(default_factory=set)
    negative: set[int] = field(default_factory=set)
    positives: dict[int, float] = field(default_factory=dict)
    events: int = 0


class UserHistories:
    """Histories of every user, indexed by ``uidx``."""

    def __init__(self, max_recent_events: int) -> None:
        self.max_recent_events = max_recent_events
        self._users: list[UserHistory] = []

    def get(self, uidx: int) -> UserHistory | None:
        """Return the history of ``uidx`` or None when it has no events."""
        return self._users[uidx] if uidx < len(self._users) else None

    def _ensure(self, uidx: int) -> UserHistory:
        while len(self._users) <= uidx:
            self._users.append(UserHistory(deque(maxlen=self.max_recent_events)))
        return self._users[uidx]

    def record(self, uidx: int, iidx: int, timestamp: float, weight: float, positive: bool) -> None:
        """Apply one event: negative weights mark a rejection, others extend the history."""
        self.record_all([uidx], [iidx], [timestamp], [weight], [positive])

    def record_all(
        self,
        uidx: list[int],
        iidx: list[int],
        timestamps: list[float],
        weights: list[float],
        positives: list[bool],
    ) -> None:
        """Apply events in order, as ``record`` would one by one."""
        users = self._users
        if uidx:
            self._ensure(max(uidx))
        for u, i, timestamp, weight, positive in zip(
            uidx, iidx, timestamps, weights, positives, strict=True
        ):
            user = users[u]
            user.events += 1
            user.seen.add(i)
            if weight < 0:
                user.negative.add(i)
                user.positives.pop(i, None)
                continue
            if user.negative:
                user.negative.discard(i)
            user.recent.append((i, timestamp, weight))
            if positive:
                user.positives[i] = max(user.positives.get(i, 0.0), 1.0)

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
