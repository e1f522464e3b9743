"""A readers-writer lock: answers share it, the one writer takes it alone.

The engine's state and the vector index are each guarded by one: reads run in parallel
(numpy and hnswlib release the GIL), and a write waits for the reads in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Many readers or one writer.

    The writer may take the lock again, as writer or reader, while it holds it (a write
    that calls back into the engine, e.g. inline encoding on an upsert). A waiting writer
    holds back readers that arrive after it (so a stream of searches
    cannot starve writes), and when a write ends, the readers that waited for it go in
    before the next writer (so a long upsert, written in chunks, cannot starve searches).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._readers_waiting = 0
        self._writing = False
        self._writers_waiting = 0
        self._admit = 0  # readers let in ahead of waiting writers after a write
        # The writing thread and how deep it holds the lock: only that thread sets it to
        # its own id, so a thread reading it unlocked sees its own id only when it writes.
        self._owner: int | None = None
        self._depth = 0

    def _must_wait(self) -> bool:
        return self._writing or (self._writers_waiting > 0 and self._admit == 0)

    def acquire_read(self) -> None:
        """Wait until no writer holds or (ahead of this reader) waits, then read."""
        if self._owner == threading.get_ident():  # the writer reads what it writes
            self._depth += 1
            return
        with self._cond:
            if self._must_wait():
                self._readers_waiting += 1
                while self._must_wait():
                    self._cond.wait()
                self._readers_waiting -= 1
            if self._admit:
                self._admit -= 1
            self._readers += 1

    def release_read(self) -> None:
        """End a read; the last reader out lets a waiting writer in."""
        if self._owner == threading.get_ident():
            self._depth -= 1
            return
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the lock as a reader for the block."""
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    def acquire_write(self) -> None:
        """Wait until no reader or writer holds the lock, then hold it alone."""
        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
            return
        with self._cond:
            self._writers_waiting += 1
            while self._writing or self._readers or self._admit:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writing = True
            self._owner, self._depth = me, 1

    def release_write(self) -> None:
        """End a write; the readers that waited for it go in before the next writer."""
        if self._depth > 1:
            self._depth -= 1
            return
        with self._cond:
            self._owner, self._depth = None, 0
            self._writing = False
            self._admit = self._readers_waiting
            self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the lock alone for the block."""
        self.acquire_write()
        try:
            yield
        finally:
            self.release_write()
