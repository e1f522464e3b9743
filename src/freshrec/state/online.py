"""The online state besides the models: ids, catalogue, user histories and the log columns.

``OnlineState.index_events`` is the one place where events with string ids become the dense
``EventBatch`` the models learn from; the engine then hands that batch to each model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from freshrec.config import EngineConfig
from freshrec.state.catalog import CatalogIndex
from freshrec.state.columns import EventColumns
from freshrec.state.histories import UserHistories
from freshrec.state.vocabulary import IdVocabulary
from freshrec.types import Categories, Event, EventBatch, Item, check_categories


class OnlineState:
    """Id vocabularies, catalogue index, per-user histories and the log as columns.

    Not thread-safe on its own: the engine calls it under its lock.
    """

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.users = IdVocabulary()
        self.items = IdVocabulary()
        self.catalog = CatalogIndex()
        self.histories = UserHistories(
            config.history.max_recent_events, config.history.max_seen_items
        )
        self.columns = EventColumns()
        self.catalogue_version = 0
        # The log offset this state reflects. Forgotten events (holes in the log) take an
        # offset but no column, so this is the column count plus the holes passed.
        self.offset = 0
        # Where holes were passed: column position -> holes before it (cumulative), sorted.
        self._hole_positions: list[int] = []
        self._holes_before: list[int] = []

    def pass_holes(self, count: int) -> None:
        """Move the offset past ``count`` forgotten events (nothing to apply)."""
        if count <= 0:
            return
        self.offset += count
        total = (self._holes_before[-1] if self._holes_before else 0) + count
        self._hole_positions.append(len(self.columns))
        self._holes_before.append(total)

    def offsets_of(self, positions: npt.NDArray[np.int64]) -> list[int]:
        """The log offset of each column position (1-based, holes counted)."""
        offsets = positions + 1
        if self._hole_positions:
            run = np.searchsorted(self._hole_positions, positions, side="right") - 1
            before = np.asarray(self._holes_before, dtype=np.int64)[np.maximum(run, 0)]
            offsets = offsets + np.where(run >= 0, before, 0)
        return [int(o) for o in offsets]

    def item_index(self, item_id: str) -> int:
        """Return the dense index of ``item_id``, registering a new item."""
        iidx = self.items.add(item_id)
        self.catalog.add(iidx, item_id)
        return iidx

    def apply_items(self, items: Iterable[Item]) -> None:
        """Apply item upserts: availability, categories, creation times."""
        for item in items:
            self.catalog.update(self.item_index(item.item_id), item)
        self.catalogue_version += 1

    def index_events(self, events: Sequence[Event]) -> EventBatch:
        """Map already-durable events (log order) to indices; extend histories and the log.

        Returns the events as an ``EventBatch`` for the models' ``partial_fit``.
        """
        known = len(self.items)
        uidx = self.users.add_all([e.user_id for e in events])
        iidx = self.items.add_all([e.item_id for e in events])
        for new in range(known, len(self.items)):
            self.catalog.add(new, self.items.id_of(new))
        event_weights, is_positive = self.config.events.weights, self.config.is_positive
        weights = [event_weights[e.type] for e in events]
        positives = [
            w > 0 and is_positive(e.type, e.value) for e, w in zip(events, weights, strict=True)
        ]
        timestamps = [e.timestamp for e in events]
        self.histories.record_all(uidx, iidx, timestamps, weights)
        batch = EventBatch(
            np.array(uidx, dtype=np.int64),
            np.array(iidx, dtype=np.int64),
            np.array(weights, dtype=np.float64),
            np.array(timestamps, dtype=np.float64),
            np.array(positives, dtype=np.bool_),
        )
        self.columns.append(batch)
        self.offset += len(events)
        return batch

    def allowed(
        self,
        uidx: int | None,
        exclude: Iterable[str] | None,
        category: Categories = None,
        exclude_seen: bool = True,
    ) -> npt.NDArray[np.bool_]:
        """Return the mask of items an answer may hold, shape [n_items] (a fresh array).

        Unavailable items, the user's seen (unless ``exclude_seen`` is False) and rejected
        items, ``exclude`` and, with ``category`` (one or several: any of them), items
        outside it are False.
        """
        allowed = self.catalog.available.copy()
        history = self.histories.get(uidx) if uidx is not None else None
        if history is not None:
            if exclude_seen and history.seen:
                seen = history.seen
                allowed[np.fromiter(seen, dtype=np.int64, count=len(seen))] = False
            if history.negative:
                neg = history.negative
                allowed[np.fromiter(neg, dtype=np.int64, count=len(neg))] = False
        for item_id in exclude or ():
            iidx = self.items.get(item_id)
            if iidx is not None:
                allowed[iidx] = False
        wanted = check_categories(category)
        if wanted is not None:
            inside = self.catalog.in_category(wanted[0], len(allowed))
            for other in wanted[1:]:
                inside |= self.catalog.in_category(other, len(allowed))
            allowed &= inside
        return allowed
