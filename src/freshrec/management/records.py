"""The catalogue and the user profiles: validated, stored, then applied to the online state.

``Records`` is what ``Engine.upsert_items``, ``patch_item``, ``upsert_users`` and their
readers do. Every write is durable in the store before it reaches memory, and reaches
memory under the engine's write lock; what can be prepared without the lock (parsing,
keyword hashing, grown tables) is.

The state written into is not held but asked for (``parts``), and only under a lock that a
rebuild of the state also takes (``Engine.forget_user`` holds both record locks and swaps
the state under the write lock): a write that waited behind a forget applies to the state
the forget built, never to the one it threw away.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from freshrec.content.service import ContentService, ItemTexts
from freshrec.errors import NotFoundError, UnknownItemError, ValidationError
from freshrec.management.paging import ItemPage, decode_cursor, page_of
from freshrec.management.patch import merge_patch
from freshrec.pipelines import Pipelines
from freshrec.reading import check_n
from freshrec.rwlock import ReadWriteLock
from freshrec.state.online import OnlineState
from freshrec.store import Store
from freshrec.store.base import is_forgotten
from freshrec.types import Event, Item, User, check_id, parse_item, parse_user
from freshrec.write_guard import WriteGuard

# Items of an upsert applied per hold of the write lock (a few ms each: answers wait at
# most that long behind a bulk upsert).
APPLY_CHUNK_ITEMS = 500


class Targets(NamedTuple):
    """What records are applied to: the engine's current online parts."""

    state: OnlineState
    content: ContentService  # item texts and stated tastes (validated, queued for encoding)
    pipelines: Pipelines  # the new-user side (segments and stated tastes of profiles)


class Records:
    """Items and user profiles of one engine, for the engine's whole life.

    Args:
        store: where records are kept (written first).
        parts: the current targets; called only under ``catalogue_lock``,
            ``profile_lock`` or ``lock`` (as a reader or the writer), which a rebuild of the
            state holds while it swaps them.
        lock: the engine's read-write lock (applying takes it as the writer).
        guard: whether writes are taken.

    Attributes:
        catalogue_lock: one item upsert at a time (re-entrant: a patch reads, merges and
            upserts under it).
        profile_lock: the same for profiles.
    """

    def __init__(
        self,
        store: Store,
        parts: Callable[[], Targets],
        lock: ReadWriteLock,
        guard: WriteGuard,
    ) -> None:
        self._store = store
        self._parts = parts
        self._lock = lock
        self._guard = guard
        self.catalogue_lock = threading.RLock()
        self.profile_lock = threading.RLock()

    # -- items ----------------------------------------------------------------------------------

    def upsert_items(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Validate and store items (all or none); return how many were written.

        Raises ``ValidationError`` naming the index and field of the first bad item.
        """
        self._guard.check()
        parsed = parse_all(items, parse_item, "items")
        # One upsert at a time: what is prepared off the write lock (grown tables) must not
        # race another upsert's rows.
        with self.catalogue_lock:
            self._guard.check()  # again: a forget that held the lock may have failed
            state, content, _ = self._parts()
            content.validate(parsed)
            self._store.upsert_items(parsed)
            # Applied in chunks, the write lock let go in between: answers get in during a
            # bulk upsert (each item is applied whole; a reader may see a prefix of the batch).
            for start in range(0, len(parsed), APPLY_CHUNK_ITEMS):
                chunk = parsed[start : start + APPLY_CHUNK_ITEMS]
                read = content.read_items(chunk)  # keyword hashing, off the lock
                content.reserve(len(state.items) + len(chunk))
                with self._lock.writing(), self._guard.applying_committed("items"):
                    self.apply_items(chunk, read)
        return len(parsed)

    def apply_items(self, items: Sequence[Item], read: ItemTexts | None = None) -> None:
        """Catalogue state, then content (texts queue for encoding; keywords are inline).

        The caller holds the write lock (or owns the state alone, as a restore does).
        """
        state, content, _ = self._parts()
        state.apply_items(items)
        iidxs = [state.item_index(item.item_id) for item in items]
        content.on_items(iidxs, items, read)

    def list_bare_items(self, item_ids: Iterable[str]) -> int:
        """List each of ``item_ids`` that no upsert created yet as a bare item; return how many.

        For event-only data (a replay or an import without an item file), where the events
        are the catalogue: items already listed are left as they are.
        """
        with self._lock.reading():
            state = self._parts().state
            listed, index = state.catalog.listed, state.items.get
            new = [
                i for i in dict.fromkeys(item_ids) if (iidx := index(i)) is None or not listed[iidx]
            ]
        return self.upsert_items({"item_id": item_id} for item_id in new) if new else 0

    def unlisted_items(self, limit: int = 100) -> list[tuple[str, int]]:
        """Item ids met only in events, with their event counts, most events first.

        Events on such items are kept and counted, but the items are never recommended
        until an upsert creates them (``upsert_items``; an admin may also hide them).
        """
        with self._lock.reading():
            state = self._parts().state
            unlisted = np.flatnonzero(~state.catalog.listed)
            if not len(unlisted):
                return []
            counts = state.columns.item_counts(len(state.items))
            picked = unlisted[np.lexsort((unlisted, -counts[unlisted]))][:limit]
            return [(state.items.id_of(int(i)), int(counts[i])) for i in picked]

    @property
    def unlisted_count(self) -> int:
        """How many item ids were met only in events (``unlisted_items`` lists them)."""
        with self._lock.reading():  # the catalogue's mask, without the store's queries
            return self._parts().state.catalog.unlisted_count

    def patch_item(self, item_id: str, changes: Mapping[str, Any]) -> Item:
        """Change only the given fields of an item (JSON Merge Patch); return it as stored.

        An id met only in events is patched as a bare item (and so becomes listed).

        Raises:
            UnknownItemError: the engine has never met ``item_id``.
            ValidationError: the patch or the patched item is invalid (nothing changes).
        """
        check_id(item_id, "item_id")
        with self.catalogue_lock:  # no upsert (nor a forget) between the read and the write
            stored = self._store.get_item(item_id)
            if stored is not None:
                record = stored.to_dict()
            elif self.item_met(item_id):
                record = {"item_id": item_id}
            else:
                raise UnknownItemError(item_id)
            merged = merge_patch(record, changes, "item_id")
            parse_item(merged)  # refused here, the error names no batch index
            self.upsert_items([merged])
        return self.get_item(item_id)

    def item_met(self, item_id: str) -> bool:
        """Whether the online state knows ``item_id`` (from the catalogue or an event)."""
        with self._lock.reading():
            return self._parts().state.items.get(item_id) is not None

    def list_items(
        self, cursor: str | None = None, limit: int = 100, available: bool | None = None
    ) -> ItemPage:
        """Page through the catalogue in ``item_id`` order; pass ``next_cursor`` back.

        ``available``: only recommendable (True) or hidden (False) items. Raises
        ``ValidationError`` for a bad ``cursor`` or ``limit`` outside [1, 1000].
        """
        check_n(limit, "limit")
        after = decode_cursor(cursor) if cursor is not None else None
        return page_of(self._store.list_items(after, limit + 1, available), limit)

    def get_item(self, item_id: str) -> Item:
        """Return a stored item; raises ``UnknownItemError``."""
        item = self._store.get_item(check_id(item_id, "item_id"))
        if item is None:
            raise UnknownItemError(item_id)
        return item

    # -- users ----------------------------------------------------------------------------------

    def upsert_users(self, users: Iterable[Mapping[str, Any]]) -> int:
        """Validate and store user profiles (all or none); return how many were written."""
        self._guard.check()
        parsed = parse_all(users, parse_user, "users")
        with self.profile_lock:  # not between a patch's read and write, nor in a forget
            self._guard.check()
            self._store.upsert_users(parsed)
            with self._lock.writing(), self._guard.applying_committed("users"):
                self.apply_users(parsed)
        return len(parsed)

    def apply_users(self, users: Sequence[User]) -> None:
        """Segments from properties and stated tastes (``text``), for new-user answers.

        The caller holds the write lock (or owns the state alone, as a restore does).
        """
        state, _, pipelines = self._parts()
        pipelines.apply_users(users)
        if users:
            state.catalogue_version += 1  # cached answers may depend on profiles

    def get_user(self, user_id: str) -> User | None:
        """Return a stored user profile, or None."""
        return self._store.get_user(check_id(user_id, "user_id"))

    def patch_user(self, user_id: str, changes: Mapping[str, Any]) -> User:
        """Change only the given fields of a profile (JSON Merge Patch); return it as stored.

        A user known only from events gets a profile made from the patch.

        Raises:
            NotFoundError: no profile and no event names ``user_id``.
            ValidationError: the patch or the patched profile is invalid (nothing changes).
        """
        check_id(user_id, "user_id")
        with self.profile_lock:
            stored = self._store.get_user(user_id)
            if stored is None and self.user_event_count(user_id) == 0:
                raise NotFoundError(f"unknown user_id {user_id!r}", "user_id")
            record = stored.to_dict() if stored is not None else {"user_id": user_id}
            merged = merge_patch(record, changes, "user_id")
            parse_user(merged)  # refused here, the error names no batch index
            self.upsert_users([merged])
        user = self._store.get_user(user_id)
        assert user is not None
        return user

    def user_event_count(self, user_id: str) -> int:
        """How many of the user's events the online state holds (0 for an unknown user)."""
        with self._lock.reading():
            state = self._parts().state
            uidx = state.users.get(check_id(user_id, "user_id"))
            history = state.histories.get(uidx) if uidx is not None else None
            return history.events if history is not None else 0

    def user_events(self, user_id: str, limit: int = 100) -> list[tuple[int, Event]]:
        """Return up to ``limit`` of the user's logged ``(offset, event)``, newest first.

        The online state knows where the user's events are; the store has what they said.
        """
        check_id(user_id, "user_id")
        check_n(limit, "limit")
        with self._lock.reading():
            state = self._parts().state
            uidx = state.users.get(user_id)
            if uidx is None:
                return []
            offsets = state.offsets_of(state.columns.newest_of_user(uidx, limit))
        # A forget may have emptied some since: holes are no one's events.
        return [pair for pair in self._store.events_at(offsets) if not is_forgotten(pair[1])]


def parse_all(records: Iterable[Mapping[str, Any]], parse: Any, what: str) -> list[Any]:
    """Parse every record with ``parse``; a refusal names the record's index in ``what``."""
    parsed = []
    for index, raw in enumerate(records):
        try:
            parsed.append(parse(raw))
        except ValidationError as exc:
            raise ValidationError(f"{what}[{index}]: {exc.message}", exc.field) from None
    return parsed
