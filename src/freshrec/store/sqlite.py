"""The embedded default store: one SQLite file in WAL mode (or an in-memory database).

Why SQLite: it ships with Python, gives transactions and crash safety for free, and its WAL
mode lets one commit (one fsync) cover a whole ingest batch, which is how durability stays
cheap: an event is acknowledged only after the commit that holds it returns.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import chain
from pathlib import Path
from typing import Any

from freshrec.config import StoreConfig
from freshrec.errors import StoreError, StoreUnavailableError
from freshrec.store.base import split_duplicates
from freshrec.types import Event, Item, User

log = logging.getLogger(__name__)

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
# No index on ``events.user_id``: it cost 15-25 % of ingest throughput (measured), and the two
# readers by user do without. A user's events are found in the online state's columns and read
# here by offset (``events_at``); forgetting a user scans the log once, which is rare.
# SQLite caps host parameters per statement; stay well below the old default of 999.
_IN_CHUNK = 500
# Columns in ``Event`` field order, so an ``Event`` (a tuple) is its own parameter row.
_EVENT_COLUMNS = "user_id, item_id, type, ts, value, event_id, recommendation_id"
_INSERT = "INSERT"
_INSERT_OR_IGNORE = "INSERT OR IGNORE"
# Events go in as multi-row INSERTs of this many rows, not ``executemany``: the sqlite3 module
# lets go of the GIL around every statement step, and ``executemany`` steps once per row. In a
# server, where other threads run Python meanwhile (JSON parsing, validation), each of those
# steps may wait a whole switch interval (5 ms) to get the GIL back: with one busy thread beside
# it, a 500-event batch took 160-380 ms instead of 3-5 ms, all of it under the engine's lock.
# One step per 100 rows also saves ~30% of the insert's CPU. 100 rows x 7 columns = 700 host
# parameters, below the 999 that older SQLite builds allow.
_ROWS_PER_INSERT = 100
# Checkpoints (copying committed WAL pages into the database file) run on a thread of their
# own, at most this often while writes arrive. SQLite's default runs one inside whichever COMMIT
# takes the WAL past 1,000 pages, and the engine holds its lock around append + apply: every
# ~50th ingest batch paid 12-15 ms for it, and the first one after a retrain (which writes
# ~110 MB of model blobs at 100k items) paid for copying all of that. A PASSIVE checkpoint
# neither blocks writers nor waits for them, and durability does not depend on checkpoints:
# a commit is durable once its WAL frames are synced.
_CHECKPOINT_EVERY_SECONDS = 1.0
# Under a steady stream of commits a PASSIVE checkpoint never catches up with the end of the
# WAL, and SQLite writes the WAL from its start again only after one has. Past this many pages
# (16 MiB at 4 KiB) the thread follows up with a second PASSIVE checkpoint holding the store's
# lock: no commit can come in between, so it completes (copying only what arrived during the
# first, a few ms) and the next commit starts the WAL over. The WAL file stays bounded.
_RESET_WAL_PAGES = 4_096


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
        self._checkpointer: _Checkpointer | None = None
        # FULL syncs the WAL at every commit: an acknowledged write survives a power loss.
        # NORMAL syncs only at checkpoints: it survives a crash of the process, not of the OS.
        self._synchronous = "FULL" if config.synchronous_full else "NORMAL"
        try:
            self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
            self._db.execute(f"PRAGMA busy_timeout={int(config.busy_timeout_ms)}")
            # Overwrite what is deleted or updated (a forgotten user's events) instead of
            # leaving it in free pages; the log only appends, so this costs ingest nothing.
            self._db.execute("PRAGMA secure_delete=ON")
            if self.path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={self._synchronous}")
                # Checkpoints are _Checkpointer's job (see _CHECKPOINT_EVERY_SECONDS).
                self._db.execute("PRAGMA wal_autocheckpoint=0")
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

    @contextmanager
    def _committing(self) -> Iterator[None]:
        """Map a failed write to ``StoreUnavailableError``, after rolling it back.

        A full disk, an I/O error or a lock held past ``busy_timeout`` surface from SQLite
        as ``OperationalError`` (``DatabaseError`` for worse): the transaction is undone, so
        the caller acknowledges nothing and the store stays as it was.
        """
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if self._db.in_transaction:
                with suppress(sqlite3.Error):  # SQLite may have rolled back itself
                    self._db.execute("ROLLBACK")
            raise StoreUnavailableError(f"the store cannot commit: {exc}") from exc

    def append_events(self, events: Sequence[Event]) -> list[bool]:
        """Append events in one transaction; see :meth:`Store.append_events`.

        Raises:
            StoreUnavailableError: nothing was written (disk full, I/O error, locked).
        """
        with self._lock, self._committing():
            # Duplicates inside the batch are settled first; against the stored log, the
            # common case (all new) is one INSERT OR IGNORE whose change count proves it.
            fresh, accepted, _ = split_duplicates(events, ())
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._insert_events(_INSERT_OR_IGNORE, accepted)
                if self._db.total_changes - before != len(accepted):
                    # Some ids were stored before: undo, find them, insert the rest.
                    self._db.execute("ROLLBACK")
                    self._db.execute("BEGIN IMMEDIATE")
                    ids = [e.event_id for e in events if e.event_id is not None]
                    fresh, accepted, _ = split_duplicates(events, self._existing_event_ids(ids))
                    self._insert_events(_INSERT, accepted)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._wrote()
            return fresh

    def _insert_events(self, verb: str, events: Sequence[Event]) -> None:
        """Insert ``events`` in log order, ``_ROWS_PER_INSERT`` rows per statement."""
        for start in range(0, len(events), _ROWS_PER_INSERT):
            rows = events[start : start + _ROWS_PER_INSERT]
            self._db.execute(_multi_row_insert(verb, len(rows)), list(chain.from_iterable(rows)))

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
        """Return the number of stored events (forgotten ones not counted)."""
        with self._lock:
            return int(
                self._db.execute("SELECT COUNT(*) FROM events WHERE type != ''").fetchone()[0]
            )

    def events_at(self, offsets: Sequence[int]) -> list[tuple[int, Event]]:
        """Return the ``(offset, event)`` at each of ``offsets`` that exists, in that order."""
        found: dict[int, Event] = {}
        wanted = list(dict.fromkeys(offsets))
        with self._lock:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    "SELECT offset, user_id, item_id, type, ts, value, event_id,"
                    f" recommendation_id FROM events WHERE offset IN ({marks})",
                    chunk,
                )
                for r in rows:
                    found[r[0]] = Event(r[1], r[2], r[3], r[4], r[5], r[6], r[7])
        return [(offset, found[offset]) for offset in wanted if offset in found]

    def forget_user(self, user_id: str) -> int:
        """Empty the user's events (offsets stay) and delete their profile, atomically.

        Raises:
            StoreUnavailableError: nothing was changed (disk full, I/O error, locked).
        """
        with self._lock, self._committing():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                erased = self._db.execute(
                    "UPDATE events SET user_id = '', item_id = '', type = '', ts = 0,"
                    " value = NULL, event_id = NULL, recommendation_id = NULL"
                    " WHERE user_id = ?",
                    (user_id,),
                ).rowcount
                self._db.execute("DELETE FROM users WHERE user_id = ?", (user_id,))
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            _truncate_wal(self._db, self.path)
        return int(erased)

    # -- items and users --------------------------------------------------------------------

    def _upsert(self, table: str, key: str, rows: list[tuple[str, str]]) -> int:
        with self._lock, self._committing():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    f"INSERT INTO {table} ({key}, data) VALUES (?, ?)"
                    f" ON CONFLICT({key}) DO UPDATE SET data = excluded.data",
                    rows,
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._wrote()
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

    def list_items(self, after: str | None, limit: int, available: bool | None) -> list[Item]:
        """Return up to ``limit`` items in ``item_id`` order after ``after`` (keyset paging)."""
        query = "SELECT data FROM items WHERE item_id > ?"
        params: list[Any] = [after if after is not None else ""]
        if available is not None:
            # An item stored without the key is available (``Item`` defaults to True).
            query += " AND coalesce(json_extract(data, '$.available'), 1) = ?"
            params.append(1 if available else 0)
        query += " ORDER BY item_id LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [_item_from_json(data) for (data,) in rows]

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
        """Store or replace a named blob; raises ``StoreUnavailableError`` if it cannot."""
        with self._lock, self._committing():
            self._db.execute(
                "INSERT INTO blobs (name, data) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET data = excluded.data",
                (name, sqlite3.Binary(data)),
            )
            self._wrote()

    def get_blob(self, name: str) -> bytes | None:
        """Return a named blob or None."""
        with self._lock:
            row = self._db.execute("SELECT data FROM blobs WHERE name = ?", (name,)).fetchone()
        return bytes(row[0]) if row else None

    def _wrote(self) -> None:
        """Note a commit: a checkpoint is due (the checkpoint thread starts on the first)."""
        if self.path is None:
            return
        if self._checkpointer is None:
            self._checkpointer = _Checkpointer(self.path, self._synchronous, self._lock)
        self._checkpointer.wrote()

    def close(self) -> None:
        """Checkpoint the WAL and close the connection."""
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.close()  # without the lock: the thread may be waiting for it
        with self._lock:
            if self.path is not None:
                try:
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error:  # e.g. disk full: the WAL keeps it, the next open reads it
                    log.warning("final WAL checkpoint failed; the WAL holds the data")
            self._db.close()


class _Checkpointer:
    """A thread running PASSIVE WAL checkpoints on its own connection after writes.

    At most one checkpoint per ``_CHECKPOINT_EVERY_SECONDS``; none while nothing is written.
    """

    def __init__(self, path: Path, synchronous: str, writes: threading.RLock) -> None:
        self._writes = writes
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        # The checkpoint syncs the database file before the WAL may be reused, at either level.
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._due = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="freshrec-wal-checkpoint", daemon=True
        )
        self._thread.start()

    def wrote(self) -> None:
        """Ask for a checkpoint (cheap; called after every commit)."""
        self._due.set()

    def _run(self) -> None:
        while True:
            self._due.wait()
            if self._closing.is_set():
                return
            self._due.clear()
            try:
                _, wal_pages, _ = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if wal_pages > _RESET_WAL_PAGES:
                    with self._writes:
                        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:  # e.g. disk full: the WAL keeps the data; retry next time
                log.warning("WAL checkpoint failed; retrying after the next write", exc_info=True)
            if self._closing.wait(_CHECKPOINT_EVERY_SECONDS):
                return

    def close(self) -> None:
        """Stop the thread (after a checkpoint in progress) and close its connection."""
        self._closing.set()
        self._due.set()
        self._thread.join()
        self._db.close()


def _truncate_wal(db: sqlite3.Connection, path: Path | None) -> None:
    """Copy the WAL into the database and empty it: the old pages leave the disk now.

    Until a checkpoint, the WAL still holds the pages as they were before an erasure. Best
    effort: a reader in the way leaves it for the next checkpoint (and close truncates).
    """
    if path is None:
        return
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except sqlite3.Error:
        log.warning("could not truncate the WAL after an erasure", exc_info=True)


@functools.lru_cache(maxsize=2 * _ROWS_PER_INSERT)
def _multi_row_insert(verb: str, rows: int) -> str:
    """``{verb} INTO events (...) VALUES (...), ...`` for ``rows`` events (rows keep order)."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows)
    return f"{verb} INTO events ({_EVENT_COLUMNS}) VALUES {values}"


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
