"""Engine reads (scoring) on one dedicated thread, off the event loop.

Why not the framework's thread pool: every answer takes the engine's lock, so reads run one
at a time whatever the pool size, and the pool only adds hand-off cost. Measured at 500
answers/s on 2 cores (100k items, docs/benchmarks.md): anyio's ``run_in_threadpool`` with
up to ten busy threads spent ~0.3 ms of CPU per request on hand-offs (futex wake-ups, GIL
transfers between ten threads, the limiter and cancel-scope bookkeeping) and the p50 went
to 19 ms as the process saturated one core; one thread fed by a ``SimpleQueue`` and
answering through ``call_soon_threadsafe`` cut that to p50 3 ms. Writes (ingest, upserts)
stay on the pool: their durable appends run outside the engine lock and overlap each other.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

_STOP = object()


class ReadWorker:
    """One daemon thread that runs submitted calls in order and resolves awaiting futures.

    Started on first use (an app may serve without its lifespan running, e.g. a test
    client used without ``with``); ``stop`` ends it and a later ``run`` starts a new one.
    """

    def __init__(self, name: str = "freshrec-reads") -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(*args)`` on the worker thread and return (or raise) its outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ensure_started()
        self._jobs.put((loop, future, func, args))
        return await future

    def _ensure_started(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Let queued calls finish, then end the thread."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._jobs.put(_STOP)
            thread.join(timeout)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            loop, future, func, args = job
            if future.cancelled():  # the client went away while the call was queued
                continue
            try:
                outcome, failed = func(*args), False
            except BaseException as exc:  # delivered to the awaiting request, not lost here
                outcome, failed = exc, True
            try:
                loop.call_soon_threadsafe(_resolve, future, outcome, failed)
            except RuntimeError:  # the loop closed meanwhile: nobody is waiting any more
                log.debug("read finished after its event loop closed")


def _resolve(future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
    if future.done():  # cancelled while running
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
