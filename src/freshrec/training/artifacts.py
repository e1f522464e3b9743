"""Trained model versions as one serialisable artifact, keyed by external item ids.

Dense indices can differ between runs (they follow the order ids are first seen), so an
artifact stores item ids beside its rows and is remapped onto the current vocabulary on load.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from freshrec.errors import StoreError
from freshrec.state.vocabulary import IdVocabulary

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ModelArtifact:
    """One trained version: factor rows, EASE weights, and the log offset it covers."""

    version: str
    trained_through: int  # number of events of the log the fit saw
    item_ids: list[str]
    item_factors: FloatArray  # shape [n_items, n_factors]
    trained: npt.NDArray[np.bool_]  # shape [n_items]
    user_gram: FloatArray  # shape [n_factors, n_factors]
    ease_weights: npt.NDArray[np.float32] | None  # shape [n_items, n_items] or None

    def to_bytes(self) -> bytes:
        """Serialise to ``.npz`` bytes (no pickle)."""
        buffer = io.BytesIO()
        arrays: dict[str, np.ndarray] = {
            "version": np.array(self.version),
            "trained_through": np.array(self.trained_through),
            "item_ids": np.array(self.item_ids, dtype=np.str_),
            "item_factors": self.item_factors,
            "trained": self.trained,
            "user_gram": self.user_gram,
        }
        if self.ease_weights is not None:
            arrays["ease_weights"] = self.ease_weights
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelArtifact:
        """Deserialise; raises ``StoreError`` for a damaged artifact."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                ease = npz["ease_weights"] if "ease_weights" in npz.files else None
                return cls(
                    version=str(npz["version"]),
                    trained_through=int(npz["trained_through"]),
                    item_ids=[str(x) for x in npz["item_ids"]],
                    item_factors=npz["item_factors"],
                    trained=npz["trained"],
                    user_gram=npz["user_gram"],
                    ease_weights=ease,
                )
        except (OSError, KeyError, ValueError) as exc:
            raise StoreError(f"damaged model artifact: {exc}") from exc

    def remap(
        self, vocabulary: IdVocabulary
    ) -> tuple[FloatArray, npt.NDArray[np.bool_], npt.NDArray[np.float32] | None]:
        """Return factors, trained mask and EASE weights re-indexed onto ``vocabulary``.

        Items the artifact lacks get zero rows (untrained); items the vocabulary lacks are
        dropped.
        """
        n = len(vocabulary)
        target = np.array([vocabulary.get(i) for i in self.item_ids], dtype=object)
        known = np.array([t is not None for t in target], dtype=np.bool_)
        rows = np.flatnonzero(known)
        dest = target[known].astype(np.int64)
        factors = np.zeros((n, self.item_factors.shape[1]))
        trained = np.zeros(n, dtype=np.bool_)
        factors[dest] = self.item_factors[rows]
        trained[dest] = self.trained[rows]
        ease = None
        if self.ease_weights is not None:
            ease = np.zeros((n, n), dtype=np.float32)
            ease[np.ix_(dest, dest)] = self.ease_weights[np.ix_(rows, rows)]
        return factors, trained, ease
