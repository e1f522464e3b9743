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
        user = self._ensure(uidx)
        user.events += 1
        user.seen.add(iidx)
        if weight < 0:
            user.negative.add(iidx)
            user.positives.pop(iidx, None)
            return
        user.negative.discard(iidx)
        user.recent.append((iidx, timestamp, weight))
        if positive:
            user.positives[iidx] = max(user.positives.get(iidx, 0.0), 1.0)

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
