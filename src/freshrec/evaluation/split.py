"""Temporal split evaluation: train on the past, recommend once, score against the future.

The complement of prequential replay: one model state (everything before the cut, retrained
once) answers one question per user, and the answer is judged against everything that user
liked after the cut. Cheaper than replay and comparable with the usual offline protocol.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from freshrec.config import EngineConfig
from freshrec.engine import Engine
from freshrec.errors import ValidationError
from freshrec.evaluation.metrics import coverage, hit_rate, ndcg, recall
from freshrec.management.records import APPLY_CHUNK_ITEMS
from freshrec.reading import MAX_N
from freshrec.training.trainer import StepProgress
from freshrec.types import Event, Item

# Step names ``temporal_split_evaluate`` reports, besides ``Engine.train``'s.
LOADING_STEP = "loading items"
INGEST_STEP = "ingesting events"
EVALUATE_STEP = "evaluating users"
_INGEST_CHUNK = 50_000
_USERS_PER_REPORT = 100


def temporal_split_evaluate(
    events: Sequence[Event],
    items: Sequence[Item] = (),
    k: int = 10,
    test_fraction: float = 0.2,
    config: EngineConfig | None = None,
    scenario: str = "home",
    progress: StepProgress | None = None,
) -> dict[str, Any]:
    """Train on the oldest events, then score one top-``k`` list per user on the newest.

    Events are sorted by timestamp (stably: ties keep file order); the last
    ``test_fraction`` of them by count is the test set. A fresh in-memory engine ingests the
    rest, trains once, and then, for every test user who has train history and at least one
    positive test event (``config.is_positive``) on an item they did not touch in train, is
    asked for the top ``k`` (the engine leaves out items the user already interacted with).
    The test events are never ingested.

    Args:
        events: the log, in any order.
        items: catalogue to load before the train events; without one, the items of the
            train events are listed as bare items (only the catalogue lists items).
        k: the cutoff, in [1, 1000].
        test_fraction: share of the events held out, in (0, 1).
        config: engine settings (automatic retrains are switched off; one ``train`` runs).
        scenario: which scenario answers.
        progress: hears of ``LOADING_STEP``, ``INGEST_STEP``, the training steps
            (``Engine.train``) and ``EVALUATE_STEP``, in that order.

    Returns:
        ``{"events", "train_events", "test_events", "users_evaluated", "recall@k",
        "ndcg@k", "hr@k", "coverage@k", "seconds"}``: the metrics are means over the
        evaluated users (0.0 when there are none), rounded to 5 places; ``coverage@k`` is the
        share of the items the engine knows that appear in at least one list.

    Raises:
        ValidationError: ``test_fraction`` outside (0, 1) or ``k`` outside [1, 1000].

    Example:
        >>> from freshrec.types import Event
        >>> log = [Event("u1", "a", "click", 1), Event("u1", "b", "click", 2),
        ...        Event("u2", "a", "click", 3), Event("u2", "b", "click", 4)]
        >>> result = temporal_split_evaluate(log, k=5, test_fraction=0.25)
        >>> result["users_evaluated"], result["hr@5"]
        (1, 1.0)
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValidationError("must be in (0, 1)", "test_fraction")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_N:
        raise ValidationError(f"must be an integer in [1, {MAX_N}]", "k")
    config = config or EngineConfig()
    start = time.perf_counter()
    ordered = sorted(events, key=lambda e: e.timestamp)
    cut = len(ordered) - int(len(ordered) * test_fraction)
    train, test = ordered[:cut], ordered[cut:]
    seen: dict[str, set[str]] = {}
    for event in train:
        seen.setdefault(event.user_id, set()).add(event.item_id)
    relevant: dict[str, set[str]] = {}
    for event in test:
        history = seen.get(event.user_id)
        if (
            history is not None
            and event.item_id not in history
            and config.is_positive(event.type, event.value)
        ):
            relevant.setdefault(event.user_id, set()).add(event.item_id)
    # One explicit retrain after ingest; retrains triggered while ingesting would be wasted.
    quiet = config.model_copy(
        update={"training": config.training.model_copy(update={"retrain_every_events": 0})}
    )
    sums = {"recall": 0.0, "ndcg": 0.0, "hr": 0.0}
    recommended: set[str] = set()

    def report(step: str, done: int, total: int) -> None:
        if progress is not None:
            progress(step, done, total)

    with Engine.open(None, quiet, background_training=False) as engine:
        if items:
            # In the engine's own apply chunks: the encoder sees the same batches as one
            # upsert of everything would give it.
            for at in range(0, len(items), APPLY_CHUNK_ITEMS):
                engine.upsert_items(item.to_dict() for item in items[at : at + APPLY_CHUNK_ITEMS])
                report(LOADING_STEP, min(at + APPLY_CHUNK_ITEMS, len(items)), len(items))
        else:  # the events are the catalogue: list what the train part holds, explicitly
            engine.list_bare_items(event.item_id for event in train)
        if train:
            for at in range(0, len(train), _INGEST_CHUNK):
                engine.ingest([event._asdict() for event in train[at : at + _INGEST_CHUNK]])
                report(INGEST_STEP, min(at + _INGEST_CHUNK, len(train)), len(train))
            engine.train(progress)
        for number, user_id in enumerate(sorted(relevant), 1):
            if number % _USERS_PER_REPORT == 0:
                report(EVALUATE_STEP, number, len(relevant))
            ranked = [r.item_id for r in engine.recommend(user_id, k, scenario, explain=False)]
            wanted = relevant[user_id]
            sums["recall"] += recall(ranked, wanted, k)
            sums["ndcg"] += ndcg(ranked, wanted, k)
            sums["hr"] += hit_rate(ranked, wanted, k)
            recommended.update(ranked)
        known_items = engine.stats()["items"]
    users = len(relevant)
    result: dict[str, Any] = {
        "events": len(ordered),
        "train_events": len(train),
        "test_events": len(test),
        "users_evaluated": users,
    }
    for name, total in sums.items():
        result[f"{name}@{k}"] = round(total / users if users else 0.0, 5)
    result[f"coverage@{k}"] = round(coverage(recommended, known_items), 5)
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result
