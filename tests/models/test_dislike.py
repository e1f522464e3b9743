"""A dislike takes the item out of the user's fold-in profile and out of training."""

from __future__ import annotations

import numpy as np
from test_factors import CONFIG, group_events, half_step

from freshrec import Engine, EngineConfig
from freshrec.models import EventBatch, ImplicitFactors
from freshrec.models.als import positives_matrix

DISLIKE = -1.0


def dislike(u: int, i: int, t: float = 2e6) -> EventBatch:
    return EventBatch.from_rows([(u, i, DISLIKE, t, False)])


def like(u: int, i: int, t: float = 3e6) -> EventBatch:
    return EventBatch.from_rows([(u, i, 1.0, t, True)])


def test_a_disliked_item_leaves_the_users_fold_in_and_a_like_brings_it_back() -> None:
    model = ImplicitFactors(CONFIG)
    model.fit(group_events())
    factors = model.trained_state()[0]

    def fold_in(items: list[int]) -> np.ndarray:
        """The user's ALS half-step from exactly these positives."""
        return half_step(factors, items, CONFIG.regularization, CONFIG.alpha)

    # User 1 liked items 0, 2, 3, 4.
    before = model.user_vector(1)
    assert before is not None
    np.testing.assert_allclose(before, fold_in([0, 2, 3, 4]), rtol=1e-4, atol=1e-6)
    model.partial_fit(dislike(1, 2))
    got = model.user_vector(1)
    assert got is not None
    np.testing.assert_allclose(got, fold_in([0, 3, 4]), rtol=1e-6, atol=1e-9)
    assert not np.allclose(got, before, atol=1e-3)
    model.partial_fit(like(1, 2))  # the latest signal wins
    back = model.user_vector(1)
    assert back is not None
    np.testing.assert_allclose(back, fold_in([0, 3, 4, 2]), rtol=1e-6, atol=1e-9)


def test_training_counts_the_latest_signal_of_each_pair() -> None:
    events = EventBatch.from_rows(
        [
            (0, 1, 1.0, 1.0, True),  # liked, then disliked: out
            (0, 1, DISLIKE, 2.0, False),
            (0, 2, DISLIKE, 3.0, False),  # disliked, then liked: in
            (0, 2, 1.0, 4.0, True),
            (1, 1, 1.0, 5.0, True),  # another user's like of item 1 stays
            (1, 3, 0.5, 6.0, False),  # a view is no signal either way
        ]
    )
    matrix = positives_matrix(events).toarray()
    assert matrix.tolist() == [[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]]


def test_a_retrain_does_not_count_a_disliked_item() -> None:
    config = EngineConfig.from_dict(
        {"training": {"retrain_every_events": 0}, "factors": {"factors": 4, "iterations": 4}}
    )
    items = [{"item_id": f"i{k}"} for k in range(6)]
    events = [
        {"user_id": f"u{u}", "item_id": f"i{k}", "type": "purchase", "timestamp": 1e9 + u * 10 + k}
        for u in range(12)
        for k in range(6)
        if (k + u) % 3
    ]
    with Engine.open(None, config, background_training=False) as engine:
        engine.upsert_items(items)
        engine.ingest(events)
        liked = [e["item_id"] for e in events if e["user_id"] == "u1"]
        engine.ingest([{"user_id": "u1", "item_id": liked[0], "type": "dislike"}])
        engine.train()
        model = engine._models.factors
        iidx = engine._state.items.get(liked[0])
        uidx = engine._state.users.get("u1")
        assert iidx is not None and uidx is not None
        trained = positives_matrix(engine._state.columns.slice())
        assert trained[uidx, iidx] == 0.0 and trained[uidx].sum() == len(liked) - 1
        assert iidx not in model._profiles[uidx]


def test_a_users_profile_keeps_the_newest_positives_only() -> None:
    config = CONFIG.model_copy(update={"profile_max_items": 3, "fold_in_max_items": 2})
    model = ImplicitFactors(config)
    model.fit(group_events())
    for iidx in (5, 6, 7, 8):  # user 1 already liked 0, 2, 3, 4
        model.partial_fit(like(1, iidx))
    assert list(model._profiles[1]) == [6, 7, 8]
    factors = model.trained_state()[0]
    got = model.user_vector(1)
    assert got is not None  # the newest two trained items are what is folded in
    np.testing.assert_allclose(got, half_step(factors, [8, 7], CONFIG.regularization, CONFIG.alpha))
