"""What the engine knows of items beyond ids: availability, categories, tie-breaks."""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt

from freshrec.types import Item

# Small enough never to reorder items whose scores differ, large enough to split exact ties.
_TIE_SCALE = 1e-9


class CatalogIndex:
    """Per-item arrays indexed by ``iidx``, grown as the vocabulary grows.

    An index exists for every item id the engine has met, in the catalogue or only in events,
    but only an upsert lists an item: an id first met in an event stays unlisted, and so
    never recommendable, until the catalogue creates it (an ``ingest`` key, meant for web
    pages, must not be able to push an item into everyone's feed).

    ``tie_break`` is a fixed pseudo-random value per item id (crc32), so ties are broken the
    same way whatever order the items were first seen in — answers stay equal after a restart
    that rebuilds indices in a different order.
    """

    def __init__(self) -> None:
        self._n = 0
        self._available = np.zeros(64, dtype=np.bool_)
        self._listed = np.zeros(64, dtype=np.bool_)
        self._tie_break = np.zeros(64, dtype=np.float64)
        self._created_at = np.zeros(64, dtype=np.float64)
        self._categories: dict[str, set[int]] = {}
        self._item_categories: dict[int, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return self._n

    @property
    def available(self) -> npt.NDArray[np.bool_]:
        """Mask of items that may be recommended (listed, not hidden), shape [n_items] (a view)."""
        return self._available[: self._n]

    @property
    def listed(self) -> npt.NDArray[np.bool_]:
        """Mask of items an upsert created (hidden ones included), shape [n_items] (a view)."""
        return self._listed[: self._n]

    @property
    def unlisted_count(self) -> int:
        """How many item ids are known only from events."""
        return self._n - int(np.count_nonzero(self.listed))

    @property
    def tie_break(self) -> npt.NDArray[np.float64]:
        """Fixed tiny per-item score offsets, shape [n_items] (a view)."""
        return self._tie_break[: self._n]

    @property
    def created_at(self) -> npt.NDArray[np.float64]:
        """Item creation times in unix seconds (0 = unknown), shape [n_items] (a view)."""
        return self._created_at[: self._n]

    def add(self, iidx: int, item_id: str) -> None:
        """Register a new dense index (must be the next one)."""
        if iidx < self._n:
            return
        if self._n == len(self._available):
            grow = len(self._available)
            self._available = np.concatenate([self._available, np.zeros(grow, dtype=np.bool_)])
            self._listed = np.concatenate([self._listed, np.zeros(grow, dtype=np.bool_)])
            self._tie_break = np.concatenate([self._tie_break, np.zeros(grow)])
            self._created_at = np.concatenate([self._created_at, np.zeros(grow)])
        self._tie_break[self._n] = zlib.crc32(item_id.encode()) / 2**32 * _TIE_SCALE
        self._n += 1

    def update(self, iidx: int, item: Item) -> None:
        """Apply an item upsert: it lists the item; availability, categories, creation time."""
        self._listed[iidx] = True
        self.available[iidx] = item.available
        self.created_at[iidx] = item.created_at or 0.0
        for old in self._item_categories.get(iidx, ()):
            self._categories.get(old, set()).discard(iidx)
        self._item_categories[iidx] = item.categories
        for category in item.categories:
            self._categories.setdefault(category, set()).add(iidx)

    def categories_of(self, iidx: int) -> tuple[str, ...]:
        """Return an item's categories."""
        return self._item_categories.get(iidx, ())

    def in_category(self, category: str, n_items: int) -> npt.NDArray[np.bool_]:
        """Return a mask, shape [n_items], of items in ``category``."""
        mask = np.zeros(n_items, dtype=np.bool_)
        members = self._categories.get(category)
        if members:
            mask[np.fromiter(members, dtype=np.int64, count=len(members))] = True
        return mask

    def categories(self) -> list[str]:
        """Return every known category, sorted."""
        return sorted(c for c, members in self._categories.items() if members)
