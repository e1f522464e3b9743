"""Load the language model on first use, once per process.

An engine that never sees item text never pays for the model, and the many engines one
process may open (tests, replays of several configurations) share one loaded model: an
ONNX Runtime session answers concurrent ``run`` calls safely.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from freshrec.content.encoder import TextEncoder, open_encoder

_LOADED: dict[tuple[str, str, int], TextEncoder] = {}
_LOAD_LOCK = threading.Lock()


def shared_encoder(kind: str, cache_dir: Path, threads: int) -> TextEncoder:
    """Return the process's encoder for these settings, loading (or exporting) it once."""
    key = (kind, str(cache_dir), threads)
    with _LOAD_LOCK:
        encoder = _LOADED.get(key)
        if encoder is None:
            encoder = _LOADED[key] = open_encoder(kind, cache_dir=cache_dir, threads=threads)
        return encoder


class LazyEncoder:
    """A ``TextEncoder`` that loads the shared model the first time it is needed."""

    def __init__(self, kind: str, cache_dir: Path, threads: int) -> None:
        self.kind = kind
        self.cache_dir = cache_dir
        self.threads = threads

    @property
    def model(self) -> TextEncoder:
        """The loaded encoder (loads it on first access)."""
        return shared_encoder(self.kind, self.cache_dir, self.threads)

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def version(self) -> str:
        """Weights, precision and export settings: a change here means re-encode."""
        return self.model.version

    @property
    def dim(self) -> int:
        """Embedding width."""
        return self.model.dim

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> npt.NDArray[np.float32]:
        """Unit vectors, shape [len(texts), dim] float32 (see ``TextEncoder.encode``)."""
        return self.model.encode(texts, batch_size=batch_size, progress=progress)
