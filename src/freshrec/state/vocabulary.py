"""Mapping between external string ids and dense integer indices (never leave the engine)."""

from __future__ import annotations

from collections.abc import Iterable


class IdVocabulary:
    """Assigns dense indices 0, 1, 2, ... to ids in order of first sight.

    >>> v = IdVocabulary()
    >>> v.add("a"), v.add("b"), v.add("a")
    (0, 1, 0)
    >>> v.id_of(1), len(v)
    ('b', 2)
    """

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._index: dict[str, int] = {}
        self._ids: list[str] = []
        for id_ in ids:
            self.add(id_)

    def add(self, id_: str) -> int:
        """Return the index of ``id_``, assigning the next free one when it is new."""
        idx = self._index.get(id_)
        if idx is None:
            idx = len(self._ids)
            self._index[id_] = idx
            self._ids.append(id_)
        return idx

    def add_all(self, ids: list[str]) -> list[int]:
        """Return the index of each id, assigning new ones in order of first sight.

        >>> IdVocabulary(["a"]).add_all(["b", "a", "b", "c"])
        [1, 0, 1, 2]
        """
        index = self._index
        found = [index.get(id_) for id_ in ids]
        if None not in found:
            return found  # type: ignore[return-value]
        return [self.add(id_) if idx is None else idx for id_, idx in zip(ids, found, strict=True)]

    def get(self, id_: str) -> int | None:
        """Return the index of ``id_`` or None when unknown."""
        return self._index.get(id_)

    def id_of(self, idx: int) -> str:
        """Return the external id of a dense index."""
        return self._ids[idx]

    def ids_of(self, indices: list[int]) -> list[str]:
        """Return the external ids of several dense indices, in order."""
        ids = self._ids
        return [ids[i] for i in indices]

    def ids(self) -> list[str]:
        """Return all ids, position = index (a copy)."""
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._index
