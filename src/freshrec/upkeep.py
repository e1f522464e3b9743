"""Upkeep: derived state worked off in short slices under the engine's lock, off requests.

New items' factor vectors are derived from their users' vectors; after a burst of events on
items the last fit did not know, or after a retrain's swap, that is seconds of solves. Paid
by the next answer it was a 4.5 s response (100k shop, 640k-event burst); paid a slice per
answer and per write it still added ~2 ms to every request until the backlog drained. Here
a worker takes the engine's lock for one slice at a time and lets go in between, so a
request waits about one slice for the lock and pays nothing for the backlog itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

log = logging.getLogger(__name__)

# Pause between slices: requests queued behind the lock get in before the next one.
_PAUSE_SECONDS = 0.001


class Upkeep:
    """Runs ``step`` under ``lock`` again and again while it reports more to do.

    Args:
        lock: makes the engine's write lock, held for each step.
        step: does one bounded slice of work; returns True while work remains.
    """

    def __init__(
        self, lock: Callable[[], AbstractContextManager[object]], step: Callable[[], bool]
    ) -> None:
        self._lock = lock
        self._step = step
        self._cond = threading.Condition(threading.Lock())
        self._due = False
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """Say there may be work (cheap: call after every change that can create some)."""
        with self._cond:
            if self._closed:
                return
            self._due = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="freshrec-upkeep", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no work is due or running; False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._closed or not (self._due or self._busy), timeout
            )

    def close(self) -> None:
        """Stop the worker after its current slice."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        # Not niced (``threads``): it holds the engine's lock, which requests wait for.
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                self._cond.wait_for(lambda: self._due or self._closed)
                if self._closed:
                    return
                self._due, self._busy = False, True
            more = True
            while more and not self._closed:
                try:
                    with self._lock():
                        more = self._step()
                except Exception:  # a dead worker would leave the backlog to nobody
                    log.exception("upkeep step failed; retrying on the next change")
                    more = False
                if more:
                    time.sleep(_PAUSE_SECONDS)
