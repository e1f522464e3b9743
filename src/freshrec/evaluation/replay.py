"""Prequential replay: ask, score, then learn — event by event, in time order.

The protocol (DESIGN.md, ``freshrec replay``): events in timestamp order, ties in file
order. For each positive event of a user with at least one earlier event, on an item that
user has not interacted with before, first ask the engine for the top-k (the engine excludes
what the user already interacted with) and count a hit if the item is in it; then ingest the
event. Nothing about the future is ever visible to a prediction.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from freshrec.config import EngineConfig
from freshrec.engine import Engine
from freshrec.errors import ValidationError
from freshrec.management.records import APPLY_CHUNK_ITEMS
from freshrec.types import Event, Item

CATALOGUE = "catalogue"  # candidates: every listed item
SEEN = "seen"  # candidates: items with an earlier event in the stream (the peers' set)


@dataclass(slots=True)
class ReplayReport:
    """Replay outcome. ``halves`` holds hit rates of evaluated events per half of the stream."""

    k: int
    events: int = 0
    evaluated: int = 0
    hits: float = 0.0
    ndcg_sum: float = 0.0
    seconds: float = 0.0
    halves: list[list[float]] = field(default_factory=lambda: [[0.0, 0.0], [0.0, 0.0]])
    catalogue: int = 0  # items that could be recommended (listed, or met in the stream)
    recommended: set[str] = field(default_factory=set)  # every item any answer held
    novelty_sum: float = 0.0  # sum over answered items of -log2(share of users who had it)
    answered_items: int = 0

    @property
    def hit_rate(self) -> float:
        """Hits over evaluated events."""
        return self.hits / self.evaluated if self.evaluated else 0.0

    def half_hit_rate(self, half: int) -> float:
        """Hit rate over the evaluated events of the first (0) or second (1) half."""
        hits, count = self.halves[half]
        return hits / count if count else 0.0

    @property
    def coverage(self) -> float:
        """Share of the catalogue that appeared in at least one answer."""
        return len(self.recommended) / self.catalogue if self.catalogue else 0.0

    @property
    def novelty(self) -> float:
        """Mean self-information of answered items, ``-log2`` of their popularity then.

        An item's popularity is the share of the stream's users so far who had interacted
        with it (add-one smoothed): higher means less obvious recommendations.
        """
        return self.novelty_sum / self.answered_items if self.answered_items else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON summary that ``freshrec replay --json`` prints."""
        k = self.k
        return {
            "events": self.events,
            "evaluated": self.evaluated,
            f"hr@{k}": round(self.hit_rate, 5),
            f"ndcg@{k}": round(self.ndcg_sum / self.evaluated if self.evaluated else 0.0, 5),
            f"hr@{k}_first_half": round(self.half_hit_rate(0), 5),
            f"hr@{k}_second_half": round(self.half_hit_rate(1), 5),
            f"coverage@{k}": round(self.coverage, 5),
            f"novelty@{k}": round(self.novelty, 4),
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events / self.seconds if self.seconds else 0.0, 1),
        }


def replay(
    events: Sequence[Event],
    items: Sequence[Item] = (),
    k: int = 10,
    scenario: str = "home",
    config: EngineConfig | None = None,
    progress: Callable[[int], None] | None = None,
    candidates: str = CATALOGUE,
    loading: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Run the prequential protocol over ``events`` with a fresh in-memory engine.

    Args:
        events: the log, in file order (sorted here by timestamp, stably).
        items: catalogue to load first (titles, categories, availability).
        k: the cutoff.
        scenario: which scenario answers the questions.
        config: engine settings; retraining runs inline so the replay is deterministic.
        progress: called with the number of events processed since the last call.
        candidates: ``"catalogue"`` (every listed item may be recommended) or ``"seen"``
            (only items with an earlier event in the stream: the peers' candidate set in
            ``bench/replay_peers.py``, for a comparison on equal terms).
        loading: called with the number of catalogue items loaded since the last call
            (loading has the language model read every item text: minutes for a large
            catalogue, before the first event).

    Returns:
        ``ReplayReport`` with counts, hr@k, ndcg@k and throughput.
    """
    if candidates not in (CATALOGUE, SEEN):
        raise ValidationError(f"must be {CATALOGUE!r} or {SEEN!r}", "candidates")
    config = config or EngineConfig()
    ordered = sorted(events, key=lambda e: e.timestamp)
    report = ReplayReport(k=k, events=len(ordered))
    interacted: dict[str, set[str]] = {}
    item_users: dict[str, int] = {}  # users who interacted with each item so far
    middle = len(ordered) // 2
    with Engine.open(None, config, background_training=False) as engine:
        # In the engine's own apply chunks, so the encoder sees the batches one upsert of
        # the whole catalogue would give it: the same vectors, with progress in between.
        for at in range(0, len(items), APPLY_CHUNK_ITEMS):
            chunk = items[at : at + APPLY_CHUNK_ITEMS]
            engine.upsert_items(item.to_dict() for item in chunk)
            if loading is not None:
                loading(len(chunk))
        # The clock starts with the stream: loading the catalogue (and the language model
        # reading every item text) is set-up, not per-event work.
        start = time.perf_counter()
        # Events are ingested lazily, all at once right before the next question: the engine
        # then holds exactly the events that precede it, as the protocol demands, but pays the
        # per-call overhead once per question instead of once per event.
        pending: list[dict[str, Any]] = []
        # Only the catalogue makes items recommendable. Without an item file the stream is
        # the catalogue: each item is listed, explicitly, with the batch of its first event.
        list_items = not items
        # Catalogue items the stream has not reached yet, excluded from answers in "seen" mode.
        unseen = {item.item_id for item in items} if candidates == SEEN else set()
        fields, is_positive, log2 = Event._fields, config.is_positive, math.log2
        halves = report.halves
        for position, event in enumerate(ordered):
            user_id, item_id = event.user_id, event.item_id
            seen = interacted.get(user_id)
            if seen is None:
                seen = interacted[user_id] = set()
            elif item_id not in seen and is_positive(event.type, event.value):
                if pending:
                    if list_items:
                        engine.list_bare_items(e["item_id"] for e in pending)
                    engine.ingest(pending)
                    pending = []
                ranked = engine.recommend_ids(user_id, k, scenario, exclude=unseen or None)
                report.recommended.update(ranked)
                users_so_far = len(interacted) + 1
                for rec in ranked:
                    report.novelty_sum -= log2((item_users.get(rec, 0) + 1) / users_so_far)
                report.answered_items += len(ranked)
                hit = item_id in ranked
                report.evaluated += 1
                half = halves[0 if position < middle else 1]
                half[1] += 1
                if hit:
                    report.hits += 1
                    half[0] += 1
                    # Binary relevance with one relevant item: the ideal DCG is 1.
                    report.ndcg_sum += 1.0 / log2(ranked.index(item_id) + 2)
            pending.append(dict(zip(fields, event, strict=True)))
            if item_id not in seen:
                item_users[item_id] = item_users.get(item_id, 0) + 1
            seen.add(item_id)
            unseen.discard(item_id)
            if progress is not None and position % 1000 == 999:
                progress(1000)
        if pending:
            if list_items:
                engine.list_bare_items(e["item_id"] for e in pending)
            engine.ingest(pending)
    report.seconds = time.perf_counter() - start
    report.catalogue = len(items) if items else len(item_users)
    return report
