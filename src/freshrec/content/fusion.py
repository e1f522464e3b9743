"""One content vector per item from every modality the catalogue brings.

Blocks: the language model's text embedding, the keyword hash of the same text (categories
included), and the item's own ``vector`` when the catalogue sends one (image embeddings
computed elsewhere, say). Each block is L2-normalised and scaled by its weight, then the
blocks are concatenated, so a dot product of two fused vectors is the weighted sum of the
blocks' cosines. The weights are settings chosen by measurement on item cold start
(docs/benchmarks.md), not guesses; a missing block is a zero block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from freshrec.content.embeddings import EmbeddingTable

FloatMatrix = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class FusionBlock:
    """One modality: its table and weight."""

    table: EmbeddingTable
    weight: float


class FusedContent:
    """Concatenates weighted, normalised blocks into one vector per item."""

    def __init__(self, blocks: Sequence[FusionBlock]) -> None:
        self.blocks = [b for b in blocks if b.weight > 0]
        self.dim = sum(b.table.dim for b in self.blocks)

    def rows(self, iidxs: Sequence[int] | npt.NDArray[np.int64]) -> FloatMatrix:
        """Fused vectors of ``iidxs``, shape [len(iidxs), dim]; zero where nothing is known."""
        rows = np.asarray(iidxs, dtype=np.int64)
        # Each block is gathered, normalised and weighted in its own columns of one matrix:
        # a retrain fuses up to 20,000 rows, and stacking per-block copies doubled the memory.
        fused = np.zeros((len(rows), self.dim), dtype=np.float32)
        start = 0
        for block in self.blocks:
            matrix, end = block.table.matrix, start + block.table.dim
            inside = rows < len(matrix)
            part = fused[:, start:end]
            part[inside] = matrix[rows[inside]]
            norms = np.sqrt(np.einsum("ij,ij->i", part, part))[:, None]
            np.divide(part, norms / np.float32(block.weight), out=part, where=norms > 0)
            start = end
        return fused

    def known(self, n_items: int) -> npt.NDArray[np.bool_]:
        """Mask of items with at least one block present, shape [n_items]."""
        mask = np.zeros(n_items, dtype=np.bool_)
        for block in self.blocks:
            present = block.table.present[:n_items]
            mask[: len(present)] |= present
        return mask
