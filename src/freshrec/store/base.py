"""The storage protocol every backend implements (SQLite now, Postgres later).

A backend is the durable source of truth: the append-only event log (with increasing
offsets and idempotency by ``event_id``), the catalogue, the users, and small named blobs
(model artifacts). Online state is always rebuilt from it.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Sequence
from typing import Protocol

from freshrec.types import Event, Item, User

# A forgotten event (``forget_user``) keeps its row, so offsets never move, but nothing of
# what it said: no user, item, time, value or ids. Readers of the log skip such rows.
FORGOTTEN = Event("", "", "", 0.0, None, None, None)


def is_forgotten(event: Event) -> bool:
    """Whether ``event`` is the hole a forgotten event left in the log."""
    return not event.type  # a stored event always has a type; a hole has none


class Store(Protocol):
    """Durable storage. Every write method returns only once its data is durable."""

    def append_events(self, events: Sequence[Event]) -> list[bool]:
        """Append events atomically; return, per event, True if new and False if a duplicate.

        An event is a duplicate when its ``event_id`` was stored before or appears earlier in
        the same batch. Events without an ``event_id`` are always new.
        """
        ...

    def iter_events(
        self, after_offset: int = 0, batch_size: int = 10_000
    ) -> Iterator[list[tuple[int, Event]]]:
        """Yield ``(offset, event)`` batches in offset order, starting after ``after_offset``."""
        ...

    def last_offset(self) -> int:
        """Return the offset of the newest event (0 when the log is empty)."""
        ...

    def count_events(self) -> int:
        """Return how many events the log holds (forgotten ones not counted)."""
        ...

    def events_at(self, offsets: Sequence[int]) -> list[tuple[int, Event]]:
        """Return the ``(offset, event)`` at each of ``offsets`` that exists, in that order."""
        ...

    def forget_user(self, user_id: str) -> int:
        """Forget a user in one transaction; return how many of their events were erased.

        Each of their events becomes ``FORGOTTEN`` (its offset stays, its content goes)
        and their profile is deleted.
        """
        ...

    def upsert_items(self, items: Iterable[Item]) -> int:
        """Insert or replace items by ``item_id``; return how many were written."""
        ...

    def get_item(self, item_id: str) -> Item | None:
        """Return the item, or None when unknown."""
        ...

    def iter_items(self) -> Iterator[Item]:
        """Yield every item in insertion order."""
        ...

    def list_items(self, after: str | None, limit: int, available: bool | None) -> list[Item]:
        """Return up to ``limit`` items in ``item_id`` order, those after ``after`` only.

        A stable cursor: a page never repeats an item and, however items are upserted
        meanwhile, every item present throughout the listing is on exactly one page.
        ``available``: only items that are (True) or are not (False) recommendable.
        """
        ...

    def count_items(self) -> int:
        """Return how many items the catalogue holds."""
        ...

    def upsert_users(self, users: Iterable[User]) -> int:
        """Insert or replace users by ``user_id``; return how many were written."""
        ...

    def get_user(self, user_id: str) -> User | None:
        """Return the user, or None when unknown."""
        ...

    def iter_users(self) -> Iterator[User]:
        """Yield every user profile in insertion order."""
        ...

    def count_users(self) -> int:
        """Return how many user profiles are stored."""
        ...

    def put_blob(self, name: str, data: bytes) -> None:
        """Store a named blob durably, replacing any earlier one."""
        ...

    def get_blob(self, name: str) -> bytes | None:
        """Return a named blob, or None."""
        ...

    def close(self) -> None:
        """Flush and release resources; the store is unusable afterwards."""
        ...


def split_duplicates(
    events: Sequence[Event], stored: Container[str]
) -> tuple[list[bool], list[Event], set[str]]:
    """Apply the idempotency rule every backend shares, without writing anything.

    An event is a duplicate when its ``event_id`` is in ``stored`` or appears earlier in
    the batch; events without an id are always new.

    Returns:
        ``(fresh flag per event, the new events in order, their new event ids)``.
    """
    fresh: list[bool] = []
    accepted: list[Event] = []
    new_ids: set[str] = set()
    for event in events:
        event_id = event.event_id
        if event_id is not None:
            if event_id in stored or event_id in new_ids:
                fresh.append(False)
                continue
            new_ids.add(event_id)
        fresh.append(True)
        accepted.append(event)
    return fresh, accepted, new_ids
