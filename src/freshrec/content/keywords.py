"""A keyword signal beside the language model: hashed bag of words, no vocabulary to keep.

The language model knows what words mean; this knows which exact words an item uses (a
director's name, a year, a brand). On MovieLens-100K item cold start the two together rank
held-out items better than either alone (docs/benchmarks.md). Feature hashing keeps the
width fixed as the catalogue grows, so nothing has to be refitted when a new word appears.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"\w+")


class KeywordEncoder:
    """Signed feature hashing of lower-cased words into ``dim`` columns, rows L2-normalised.

    Example:
        >>> enc = KeywordEncoder(dim=64)
        >>> vectors = enc.encode(["red shoes", "red shoes", ""])
        >>> vectors.shape, round(float(vectors[0] @ vectors[1]), 6), float(abs(vectors[2]).sum())
        ((3, 64), 1.0, 0.0)
    """

    name = "keywords"

    def __init__(self, dim: int = 512) -> None:
        if dim < 8:
            raise ValueError("dim must be at least 8")
        self.dim = dim
        self.version = f"crc32-signed-{dim}"

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return shape [len(texts), dim] float32; an empty text gives a zero row."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                code = zlib.crc32(word.encode("utf-8"))
                # The top bit picks the sign so colliding words cancel rather than pile up.
                out[row, code % self.dim] += 1.0 if code >> 31 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out
