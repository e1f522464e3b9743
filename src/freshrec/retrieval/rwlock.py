"""A readers-writer lock for the vector index (searches share it, writes take it alone)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Many readers or one writer.

    A waiting writer holds back readers that arrive after it (so a stream of searches
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

    def _must_wait(self) -> bool:
        return self._writing or (self._writers_waiting > 0 and self._admit == 0)

    def acquire_read(self) -> None:
        """Wait until no writer holds or (ahead of this reader) waits, then read."""
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

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the lock alone for the block."""
        with self._cond:
            self._writers_waiting += 1
            while self._writing or self._readers or self._admit:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._admit = self._readers_waiting
                self._cond.notify_all()
