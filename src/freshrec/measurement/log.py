"""The durable measurement log: served lists, shown reports and experiment definitions.

Its own SQLite file (``measurement.db`` beside the event store), so logging answers never
waits on an event commit and never holds the engine's locks. Answers are appended off the
request path: ``append_*`` only queue a row; one writer thread commits everything queued in
one transaction at most every ``flush_seconds`` (a group commit), so the cost of durability is
one fsync per batch, not per answer. An answer is durable once ``flush`` has returned, or
within ``flush_seconds`` of being served; a crash loses at most that much of the log (never
an event: events live in the event store).

>>> log = ListLog(None, flush_seconds=0.01)
>>> log.append_experiment("e1", '{"name": "e1"}')
>>> log.flush(), [name for name, _ in log.experiments()]
(True, ['e1'])
>>> log.close()
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from freshrec.errors import StoreError
from freshrec.measurement import exploration
from freshrec.measurement.lists import ServedList

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    seq INTEGER PRIMARY KEY,
    recommendation_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    scenario TEXT NOT NULL,
    experiment TEXT,
    variant TEXT,
    model_version TEXT NOT NULL,
    served_at REAL NOT NULL,
    log_offset INTEGER NOT NULL,
    items TEXT NOT NULL,
    scores TEXT NOT NULL,
    propensities TEXT,
    teams TEXT,
    latency_ms REAL
);
CREATE TABLE IF NOT EXISTS shown (
    seq INTEGER PRIMARY KEY,
    recommendation_id TEXT NOT NULL,
    item_ids TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS experiments (name TEXT PRIMARY KEY, spec TEXT NOT NULL);
"""
_INSERT_LIST = (
    "INSERT INTO lists (recommendation_id, user_id, scenario, experiment, variant,"
    " model_version, served_at, log_offset, items, scores, propensities, teams, latency_ms)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_SHOWN = "INSERT INTO shown (recommendation_id, item_ids, at) VALUES (?, ?, ?)"
_PUT_EXPERIMENT = "INSERT OR REPLACE INTO experiments (name, spec) VALUES (?, ?)"
# Host parameters per statement, below the 999 older SQLite builds allow.
_PARAMS = 900
Explored = tuple[exploration.FloatArray, exploration.IntArray]
Queued = tuple[str, tuple[Any, ...], ServedList | None, Explored | None]


class ListLog:
    """Append-only measurement log with one writer thread and group commits.

    Args:
        path: the SQLite file; None keeps the log in memory (lost on close).
        flush_seconds: the longest a queued row waits for its commit.
        synchronous_full: fsync every commit (durable across power loss), as the event store.

    Raises:
        StoreError: the file exists but is not a readable measurement log.
    """

    def __init__(
        self, path: Path | None, flush_seconds: float = 0.2, synchronous_full: bool = True
    ) -> None:
        self.flush_seconds = flush_seconds
        try:
            self._db = sqlite3.connect(
                ":memory:" if path is None else str(path), check_same_thread=False
            )
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous_full else 'NORMAL'}")
            self._db.execute("PRAGMA secure_delete=ON")  # a forgotten user's rows: overwritten
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the measurement log {path}: {exc}") from exc
        self._db_lock = threading.Lock()  # the connection: the writer and readers
        self._queue: list[Queued] = []
        self._rng = np.random.default_rng()  # propensity draws (writer thread only)
        self._wake = threading.Condition(threading.Lock())
        self._queued = 0  # rows ever queued
        self._written = 0  # rows ever committed
        self._closed = False
        self.failure: str | None = None  # the last commit error (rows stay queued, retried)
        self._writer = threading.Thread(target=self._run, name="freshrec-lists", daemon=True)
        self._writer.start()

    # -- appends (any thread; never blocks on the disk) -----------------------------------------

    def append_list(
        self, served: ServedList, latency_ms: float | None, explored: Explored | None = None
    ) -> None:
        """Queue one served list.

        ``explored``: for a randomised list, the Plackett-Luce log-weights of its pool and the
        drawn positions; the writer computes the shown items' marginal propensities from
        them (milliseconds of sampling, kept off the request path) before the commit, and
        sets ``served.propensities``. The row itself is built by the writer too (its ids,
        scores and teams are tuples: they do not change once served).
        """
        self._put(_INSERT_LIST, (latency_ms,), served, explored)

    def append_shown(self, recommendation_id: str, item_ids: list[str], at: float) -> None:
        """Queue a client's report of what it showed of a list."""
        self._put(_INSERT_SHOWN, (recommendation_id, json.dumps(item_ids), at))

    def append_experiment(self, name: str, spec_json: str) -> None:
        """Queue an experiment's definition (replacing an earlier one of that name)."""
        self._put(_PUT_EXPERIMENT, (name, spec_json))

    def _put(
        self,
        sql: str,
        row: tuple[Any, ...],
        served: ServedList | None = None,
        explored: Explored | None = None,
    ) -> None:
        with self._wake:
            if self._closed:
                raise StoreError("the measurement log is closed")
            self._queue.append((sql, row, served, explored))
            self._queued += 1
            if len(self._queue) == 1:
                self._wake.notify_all()

    # -- durability ----------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row queued so far is committed; False on timeout or failure."""
        with self._wake:
            wanted = self._queued
            self._wake.notify_all()
            return (
                self._wake.wait_for(lambda: self._written >= wanted or self._writer_gone(), timeout)
                and self._written >= wanted
            )

    def forget_user(self, user_id: str) -> int:
        """Delete every list served to ``user_id`` and its shown reports; return how many.

        Lists still queued are committed first, so none of them escapes.

        Raises:
            StoreError: the queue could not be committed, or the delete failed.
        """
        if not self.flush():
            raise StoreError(f"the measurement log cannot commit: {self.failure}")
        with self._db_lock:
            try:
                with self._db:  # one transaction
                    self._db.execute(
                        "DELETE FROM shown WHERE recommendation_id IN"
                        " (SELECT recommendation_id FROM lists WHERE user_id = ?)",
                        (user_id,),
                    )
                    deleted = self._db.execute(
                        "DELETE FROM lists WHERE user_id = ?", (user_id,)
                    ).rowcount
                # The WAL held the rows as they were: empty it into the file now.
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot forget lists of {user_id!r}: {exc}") from exc
        return int(deleted)

    def _writer_gone(self) -> bool:
        return not self._writer.is_alive()

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._queue or self._closed)
                if not self._queue and self._closed:
                    return
            # Let a burst gather into one commit (never longer than flush_seconds).
            with self._wake:
                self._wake.wait(self.flush_seconds if not self._closed else 0)
                batch, self._queue = self._queue, []
            try:
                self._commit(batch)
            except Exception as exc:  # any failure: keep the rows, say so, retry; never die
                self.failure = repr(exc)
                log.warning("measurement log commit failed; retrying: %r", exc)
                with self._wake:
                    self._queue = batch + self._queue  # retried as they are
                    if self._closed:
                        return
                    self._wake.wait(1.0)
                continue
            with self._wake:
                self._written += len(batch)
                self.failure = None
                self._wake.notify_all()

    def _commit(self, batch: list[Queued]) -> None:
        rows = [self._row(entry) for entry in batch]
        with self._db_lock, self._db:
            start = 0
            while start < len(batch):  # consecutive rows of one statement, many per INSERT
                sql = batch[start][0]
                end = start
                while end < len(batch) and batch[end][0] == sql:
                    end += 1
                _insert_many(self._db, sql, rows[start:end])
                start = end

    def _row(self, entry: Queued) -> tuple[Any, ...]:
        """The parameters of a queued row; a served list's are built here, on the writer."""
        _, row, served, explored = entry
        if served is None:
            return row
        if explored is not None and served.propensities is None:  # a retry has them already
            logits, drawn = explored
            found = exploration.marginal_propensities(logits, drawn, self._rng)
            served.propensities = tuple(round(float(p), 6) for p in found)
        return (
            served.recommendation_id,
            served.user_id,
            served.scenario,
            served.experiment,
            served.variant,
            served.model_version,
            served.served_at,
            served.offset,
            json.dumps(served.items),
            json.dumps(served.scores),
            None if served.propensities is None else json.dumps(served.propensities),
            None if served.teams is None else json.dumps(served.teams),
            row[0],  # latency_ms
        )

    # -- reads (start-up) ------------------------------------------------------------------------

    def lists(self) -> Iterator[tuple[ServedList, float | None]]:
        """Every committed list with its answer latency, in serving order."""
        cursor = 0
        while True:
            with self._db_lock:
                rows = self._db.execute(
                    "SELECT seq, recommendation_id, user_id, scenario, experiment, variant,"
                    " model_version, served_at, log_offset, items, scores, propensities, teams,"
                    " latency_ms FROM lists WHERE seq > ? ORDER BY seq LIMIT 10000",
                    (cursor,),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _served(row), row[13]
            cursor = rows[-1][0]

    def shown(self) -> Iterator[tuple[str, list[str], float]]:
        """Every committed shown report: recommendation id, item ids, time; in order."""
        with self._db_lock:
            rows = self._db.execute(
                "SELECT recommendation_id, item_ids, at FROM shown ORDER BY seq"
            ).fetchall()
        for recommendation_id, item_ids, at in rows:
            yield recommendation_id, json.loads(item_ids), at

    def experiments(self) -> list[tuple[str, str]]:
        """Every committed experiment: ``(name, definition JSON)``."""
        with self._db_lock:
            return list(self._db.execute("SELECT name, spec FROM experiments ORDER BY name"))

    def count_lists(self) -> int:
        """How many lists are committed."""
        with self._db_lock:
            return int(self._db.execute("SELECT COUNT(*) FROM lists").fetchone()[0])

    def close(self) -> None:
        """Commit what is queued, stop the writer and close the file. Idempotent."""
        with self._wake:
            if self._closed:
                return
            self._closed = True
            self._wake.notify_all()
        self._writer.join(timeout=30.0)
        with self._wake:
            lost = len(self._queue)
        if lost:
            log.error("measurement log closed with %d rows not committed: %s", lost, self.failure)
        with self._db_lock:
            self._db.close()


def _insert_many(db: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` with multi-row statements, never ``executemany``.

    The sqlite3 module lets go of the GIL around every statement step, and ``executemany``
    steps once per row: each time this thread takes the GIL back, the thread answering
    requests may wait a switch interval for it. Answers over HTTP were 3 ms slower at p50 on
    a 100-item shop with lists logged row by row (the event store learnt the same, see
    ``store/sqlite.py``). One step per ``_PARAMS // width`` rows instead.
    """
    if not rows:
        return
    head, _, values = sql.partition(" VALUES ")
    per_statement = max(1, _PARAMS // len(rows[0]))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        db.execute(
            f"{head} VALUES {', '.join([values] * len(chunk))}", [v for r in chunk for v in r]
        )


def _served(row: tuple[Any, ...]) -> ServedList:
    propensities = None if row[11] is None else tuple(json.loads(row[11]))
    teams = None if row[12] is None else tuple(json.loads(row[12]))
    return ServedList(
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        tuple(json.loads(row[9])),
        tuple(json.loads(row[10])),
        propensities,
        teams,
    )
