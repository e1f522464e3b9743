"""A store held in Python structures: for ``Engine.open(None)``, tests and offline replay.

Nothing here survives the process, so there is no durability to pay for; it honours the same
protocol (offsets, idempotency, upserts keep position) and passes the same contract suite as
the durable stores, at a fraction of SQLite's per-call cost, which matters to a replay that
ingests one event at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence

from freshrec.store.base import FORGOTTEN, is_forgotten, split_duplicates
from freshrec.types import Event, Item, User


class MemoryStore:
    """In-memory implementation of :class:`freshrec.store.base.Store`."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._events: list[Event] = []
        self._event_ids: set[str] = set()
        self._items: dict[str, Item] = {}
        self._users: dict[str, User] = {}
        self._blobs: dict[str, bytes] = {}
        self._forgotten = 0  # events emptied by ``forget_user``

    def append_events(self, events: Sequence[Event]) -> list[bool]:
        """Append events; see :meth:`Store.append_events`."""
        with self._lock:
            # Decide everything first and mutate last, so a bad element leaves no trace.
            fresh, accepted, new_ids = split_duplicates(events, self._event_ids)
            self._events.extend(accepted)
            self._event_ids.update(new_ids)
            return fresh

    def iter_events(
        self, after_offset: int = 0, batch_size: int = 10_000
    ) -> Iterator[list[tuple[int, Event]]]:
        """Yield ``(offset, event)`` batches; offsets are 1-based positions in the log."""
        cursor = after_offset
        while True:
            with self._lock:
                chunk = self._events[cursor : cursor + batch_size]
            if not chunk:
                return
            yield [(cursor + k + 1, event) for k, event in enumerate(chunk)]
            cursor += len(chunk)

    def last_offset(self) -> int:
        """Return the newest offset (0 for an empty log)."""
        return len(self._events)

    def count_events(self) -> int:
        """Return the number of events (forgotten ones not counted)."""
        return len(self._events) - self._forgotten

    def events_at(self, offsets: Sequence[int]) -> list[tuple[int, Event]]:
        """Return the ``(offset, event)`` at each of ``offsets`` that exists, in that order."""
        with self._lock:
            n = len(self._events)
            return [(o, self._events[o - 1]) for o in dict.fromkeys(offsets) if 1 <= o <= n]

    def forget_user(self, user_id: str) -> int:
        """Empty the user's events (offsets stay) and delete their profile."""
        with self._lock:
            erased = 0
            for position, event in enumerate(self._events):
                if event.user_id == user_id and not is_forgotten(event):
                    if event.event_id is not None:
                        self._event_ids.discard(event.event_id)
                    self._events[position] = FORGOTTEN
                    erased += 1
            self._forgotten += erased
            self._users.pop(user_id, None)
        return erased

    def upsert_items(self, items: Iterable[Item]) -> int:
        """Insert or replace items; a replaced item keeps its position."""
        count = 0
        with self._lock:
            for item in items:
                self._items[item.item_id] = item
                count += 1
        return count

    def get_item(self, item_id: str) -> Item | None:
        """Return one item or None."""
        return self._items.get(item_id)

    def iter_items(self) -> Iterator[Item]:
        """Yield items in insertion order."""
        with self._lock:
            items = list(self._items.values())
        yield from items

    def list_items(self, after: str | None, limit: int, available: bool | None) -> list[Item]:
        """Return up to ``limit`` items in ``item_id`` order after ``after``."""
        with self._lock:
            ids = sorted(i for i in self._items if after is None or i > after)
            items = [self._items[i] for i in ids]
        if available is not None:
            items = [item for item in items if item.available == available]
        return items[:limit]

    def count_items(self) -> int:
        """Return the catalogue size."""
        return len(self._items)

    def upsert_users(self, users: Iterable[User]) -> int:
        """Insert or replace user profiles."""
        count = 0
        with self._lock:
            for user in users:
                self._users[user.user_id] = user
                count += 1
        return count

    def get_user(self, user_id: str) -> User | None:
        """Return one user or None."""
        return self._users.get(user_id)

    def iter_users(self) -> Iterator[User]:
        """Yield user profiles in insertion order."""
        with self._lock:
            users = list(self._users.values())
        yield from users

    def count_users(self) -> int:
        """Return how many user profiles are stored."""
        return len(self._users)

    def put_blob(self, name: str, data: bytes) -> None:
        """Store a named blob."""
        self._blobs[name] = bytes(data)

    def get_blob(self, name: str) -> bytes | None:
        """Return a named blob or None."""
        return self._blobs.get(name)

    def close(self) -> None:
        """Nothing to flush; kept for the protocol."""
