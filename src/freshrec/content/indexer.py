"""Encoding item texts off the request path: a queue, a worker thread, batches.

``submit`` only records what needs encoding (an item whose text hash differs from the one its
stored vector was computed from), so an upsert returns at once. The worker encodes in batches,
which is where a transformer is efficient. Answers that need a particular item's vector now
(``rank`` over brand-new items) call ``ensure`` for just those; ``flush`` drains everything
(before a retrain, or at the end of a bulk import, with a progress bar).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from freshrec.content.embeddings import EmbeddingTable
from freshrec.content.text import content_hash
from freshrec.threads import lower_priority

log = logging.getLogger(__name__)

FloatMatrix = npt.NDArray[np.float32]
OnEncoded = Callable[[list[int], FloatMatrix], None]


class BatchEncoder(Protocol):
    """Anything that turns texts into rows of vectors (the language model, keywords)."""

    @property
    def name(self) -> str:
        """The encoder's name."""
        ...

    @property
    def version(self) -> str:
        """What a stored vector depends on besides the text."""
        ...

    @property
    def dim(self) -> int:
        """Vector width."""
        ...

    def encode(self, texts: Sequence[str]) -> FloatMatrix:
        """Return shape [len(texts), dim] float32."""
        ...


class ContentIndexer:
    """Keeps ``table`` in step with item texts, encoding on a daemon thread.

    Args:
        encoder: turns a list of texts into [n, table.dim] vectors.
        table: where vectors go; its hashes decide what is stale.
        batch_size: texts per encoder call on the worker.
        on_encoded: called with ``(iidxs, vectors)`` after each stored batch (the engine
            adds them to its ANN index and gives new items content-predicted factors).
        background: False encodes inside ``submit`` (deterministic: replay and tests).
    """

    def __init__(
        self,
        encoder: BatchEncoder,
        table: EmbeddingTable,
        *,
        batch_size: int = 64,
        on_encoded: OnEncoded | None = None,
        background: bool = True,
    ) -> None:
        self.encoder = encoder
        self.table = table
        self.batch_size = batch_size
        self.on_encoded = on_encoded
        self.last_error: BaseException | None = None
        self._pending: dict[int, tuple[str, str]] = {}  # iidx -> (text, hash), oldest first
        self._queue_lock = threading.Condition()
        self._encode_lock = (
            threading.Lock()
        )  # one encoder call at a time (it uses every thread it has)
        self._closed = False
        self._worker: threading.Thread | None = None
        if background:
            self._worker = threading.Thread(target=self._run, name="freshrec-encoder", daemon=True)
            self._worker.start()

    @property
    def pending(self) -> int:
        """Number of items waiting to be encoded."""
        return len(self._pending)

    def submit(self, iidxs: Sequence[int], texts: Sequence[str]) -> int:
        """Queue the items whose text changed since their vector was computed; return how many."""
        queued = 0
        with self._queue_lock:
            for iidx, text in zip(iidxs, texts, strict=True):
                digest = content_hash(text)
                if self.table.hash_of(iidx) == digest:
                    self._pending.pop(iidx, None)  # changed back before it was encoded
                    continue
                self._pending.pop(iidx, None)  # re-queue at the back with the newest text
                self._pending[iidx] = (text, digest)
                queued += 1
            if queued:
                self._queue_lock.notify()
        if self._worker is None and queued:
            self.flush()
        return queued

    def ensure(self, iidxs: Sequence[int]) -> None:
        """Encode now whichever of ``iidxs`` is still waiting (for an answer that needs them)."""
        if not self._pending:
            return
        with self._queue_lock:
            wanted = [i for i in iidxs if i in self._pending]
        if wanted:
            self._encode(wanted)

    def flush(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Encode everything waiting, in the caller's thread.

        Args:
            progress: called with ``(items encoded, items in all)`` after each batch (the
                total grows when items are submitted meanwhile).
        """
        total = len(self._pending)
        if not total:
            return
        done = 0
        while self._pending:
            batch = self._take(4 * self.batch_size)
            self._encode(batch)
            done += len(batch)
            if progress is not None:
                total = max(total, done + len(self._pending))
                progress(done, total)

    def close(self) -> None:
        """Stop the worker; what is still pending stays unencoded (its text is in the store)."""
        with self._queue_lock:
            self._closed = True
            self._queue_lock.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=30)

    def _take(self, limit: int) -> list[int]:
        with self._queue_lock:
            return list(self._pending)[:limit]

    def _encode(self, iidxs: list[int]) -> None:
        with self._encode_lock:
            with self._queue_lock:
                jobs = [(i, self._pending[i]) for i in iidxs if i in self._pending]
            if not jobs:
                return
            vectors = self.encoder.encode([text for _, (text, _) in jobs])
            with self._queue_lock:
                # An item whose text changed again while it was encoding stays queued.
                fresh = [
                    k
                    for k, (i, (_, h)) in enumerate(jobs)
                    if self._pending.get(i, ("", ""))[1] == h
                ]
                for k in fresh:
                    del self._pending[jobs[k][0]]
            if not fresh:
                return
            done = [jobs[k][0] for k in fresh]
            self.table.put(done, vectors[fresh], [jobs[k][1][1] for k in fresh])
            if self.on_encoded is not None:
                self.on_encoded(done, self.table.matrix[done])

    def _run(self) -> None:
        lower_priority()  # answers first when a core is contended
        while True:
            with self._queue_lock:
                while not self._pending and not self._closed:
                    self._queue_lock.wait()
                if self._closed:
                    return
            try:
                self._encode(self._take(self.batch_size))
            except Exception as exc:  # keep serving without content rather than crash
                self.last_error = exc
                log.exception("encoding failed; items stay queued")
                with self._queue_lock:
                    self._queue_lock.wait(timeout=5.0)
