"""A store held in Python structures: for ``Engine.open(None)``, tests and offline replay.

Nothing here survives the process, so there is no durability to pay for; it honours the same
protocol (offsets, idempotency, upserts keep position) and passes the same contract suite as
the durable stores, at a fraction of SQLite's per-call cost, which matters to a replay that
ingests one event at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence

from freshrec.store.base import split_duplicates
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
        """Return the number of events."""
        return len(self._events)

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
