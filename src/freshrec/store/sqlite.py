"""The embedded default store: one SQLite file in WAL mode (or an in-memory database).

Why SQLite: it ships with Python, gives transactions and crash safety for free, and its WAL
mode lets one commit (one fsync) cover a whole ingest batch, which is how durability stays
cheap: an event is acknowledged only after the commit that holds it returns.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from freshrec.config import StoreConfig
from freshrec.errors import StoreError
from freshrec.store.base import split_duplicates
from freshrec.types import Event, Item, User

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    offset INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT UNIQUE,
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    type TEXT NOT NULL,
    ts REAL NOT NULL,
    value REAL,
    recommendation_id TEXT
);
CREATE TABLE IF NOT EXISTS items (item_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL);
"""
# SQLite caps host parameters per statement; stay well below the old default of 999.
_IN_CHUNK = 500
# Columns in ``Event`` field order, so an ``Event`` (a tuple) is its own parameter row.
_EVENT_COLUMNS = "user_id, item_id, type, ts, value, event_id, recommendation_id"
_INSERT = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_INSERT_OR_IGNORE = f"INSERT OR IGNORE INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"


class SqliteStore:
    """SQLite implementation of :class:`freshrec.store.base.Store`.

    Args:
        path: database file; ``None`` keeps everything in memory (lost on close).
        config: durability settings.

    Raises:
        StoreError: the file is not a freshrec database or has a newer schema.
    """

    def __init__(self, path: str | Path | None, config: StoreConfig | None = None) -> None:
        config = config or StoreConfig()
        self.path = Path(path) if path is not None else None
        target = str(self.path) if self.path is not None else ":memory:"
        # One connection shared under a lock: the engine serialises writes anyway, and SQLite
        # connections are cheap to guard but expensive to multiply for an in-memory database.
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
            self._db.execute(f"PRAGMA busy_timeout={int(config.busy_timeout_ms)}")
            if self.path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                sync = "FULL" if config.synchronous_full else "NORMAL"
                self._db.execute(f"PRAGMA synchronous={sync}")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open store at {target}: {exc}") from exc
        self._check_schema()

    def _check_schema(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreError(f"store schema {row[0]} is newer than this freshrec supports")

    # -- events ---------------------------------------------------------------------------

    def _existing_event_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk
            )
            found.update(r[0] for r in rows)
        return found

    def append_events(self, events: Sequence[Event]) -> list[bool]:
        """Append events in one transaction; see :meth:`Store.append_events`."""
        with self._lock:
            # Duplicates inside the batch are settled first; against the stored log, the
            # common case (all new) is one INSERT OR IGNORE whose change count proves it.
            fresh, accepted, _ = split_duplicates(events, ())
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._db.executemany(_INSERT_OR_IGNORE, accepted)
                if self._db.total_changes - before != len(accepted):
                    # Some ids were stored before: undo, find them, insert the rest.
                    self._db.execute("ROLLBACK")
                    self._db.execute("BEGIN IMMEDIATE")
                    ids = [e.event_id for e in events if e.event_id is not None]
                    fresh, accepted, _ = split_duplicates(events, self._existing_event_ids(ids))
                    self._db.executemany(_INSERT, accepted)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return fresh

    def iter_events(
        self, after_offset: int = 0, batch_size: int = 10_000
    ) -> Iterator[list[tuple[int, Event]]]:
        """Yield ``(offset, event)`` batches in offset order after ``after_offset``."""
        cursor = after_offset
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT offset, user_id, item_id, type, ts, value, event_id, recommendation_id"
                    " FROM events WHERE offset > ? ORDER BY offset LIMIT ?",
                    (cursor, batch_size),
                ).fetchall()
            if not rows:
                return
            yield [(r[0], Event(r[1], r[2], r[3], r[4], r[5], r[6], r[7])) for r in rows]
            cursor = rows[-1][0]

    def last_offset(self) -> int:
        """Return the newest offset, 0 for an empty log."""
        with self._lock:
            row = self._db.execute("SELECT MAX(offset) FROM events").fetchone()
        return int(row[0] or 0)

    def count_events(self) -> int:
        """Return the number of stored events."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    # -- items and users --------------------------------------------------------------------

    def _upsert(self, table: str, key: str, rows: list[tuple[str, str]]) -> int:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    f"INSERT INTO {table} ({key}, data) VALUES (?, ?)"
                    f" ON CONFLICT({key}) DO UPDATE SET data = excluded.data",
                    rows,
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(rows)

    def upsert_items(self, items: Iterable[Item]) -> int:
        """Insert or update items, keeping each item's original position."""
        rows = [(i.item_id, json.dumps(i.to_dict())) for i in items]
        return self._upsert("items", "item_id", rows)

    def get_item(self, item_id: str) -> Item | None:
        """Return one item or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM items WHERE item_id = ?", (item_id,)
            ).fetchone()
        return _item_from_json(row[0]) if row else None

    def iter_items(self) -> Iterator[Item]:
        """Yield all items in insertion order."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM items ORDER BY rowid").fetchall()
        for (data,) in rows:
            yield _item_from_json(data)

    def count_items(self) -> int:
        """Return the catalogue size."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def upsert_users(self, users: Iterable[User]) -> int:
        """Insert or update user profiles."""
        rows = [(u.user_id, json.dumps(u.to_dict())) for u in users]
        return self._upsert("users", "user_id", rows)

    def get_user(self, user_id: str) -> User | None:
        """Return one user profile or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM users WHERE user_id = ?", (user_id,)
            ).fetchone()
        if row is None:
            return None
        return _user_from_json(row[0])

    def iter_users(self) -> Iterator[User]:
        """Yield all user profiles in insertion order."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM users ORDER BY rowid").fetchall()
        for (data,) in rows:
            yield _user_from_json(data)

    def count_users(self) -> int:
        """Return how many user profiles are stored."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    # -- blobs ------------------------------------------------------------------------------

    def put_blob(self, name: str, data: bytes) -> None:
        """Store or replace a named blob."""
        with self._lock:
            self._db.execute(
                "INSERT INTO blobs (name, data) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET data = excluded.data",
                (name, sqlite3.Binary(data)),
            )

    def get_blob(self, name: str) -> bytes | None:
        """Return a named blob or None."""
        with self._lock:
            row = self._db.execute("SELECT data FROM blobs WHERE name = ?", (name,)).fetchone()
        return bytes(row[0]) if row else None

    def close(self) -> None:
        """Checkpoint the WAL and close the connection."""
        with self._lock:
            if self.path is not None:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()


def _item_from_json(text: str) -> Item:
    data: dict[str, Any] = json.loads(text)
    vector = data.get("vector")
    return Item(
        item_id=data["item_id"],
        title=data.get("title") or "",
        text=data.get("text") or "",
        categories=tuple(data.get("categories") or ()),
        properties=data.get("properties") or {},
        created_at=data.get("created_at"),
        vector=tuple(vector) if vector is not None else None,
        available=data.get("available", True),
    )


def _user_from_json(text: str) -> User:
    data = json.loads(text)
    return User(data["user_id"], data.get("properties") or {}, data.get("text") or "")
