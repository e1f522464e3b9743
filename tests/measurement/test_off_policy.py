"""Randomised answers, their propensities, and off-policy estimates from them."""

from __future__ import annotations

from collections import Counter

import numpy as np

from freshrec import Engine
from freshrec.config import EngineConfig
from freshrec.measurement.exploration import logits_of, marginal_propensities, plackett_luce
from freshrec.measurement.off_policy import estimate_ctr
from freshrec.types import Item

T0 = 1_700_000_000.0
EXPLORING = EngineConfig.from_dict(
    {"content": {"encoder": "none"}, "measurement": {"exploration_share": 1.0}}
)


def test_marginal_propensities_match_the_sampling_frequencies() -> None:
    rng = np.random.default_rng(1)
    scores = np.array([1.0, 0.9, 0.7, 0.5, 0.2])
    logits = logits_of(scores, 0.3)
    draws = Counter(tuple(plackett_luce(scores, 2, 0.3, rng, samples=10)[0]) for _ in range(20_000))
    top_pair = max(draws, key=lambda pair: draws[pair])
    drawn = np.array(top_pair)
    found = marginal_propensities(logits, drawn, rng, samples=50_000)
    first = sum(c for pair, c in draws.items() if pair[0] == top_pair[0]) / 20_000
    second = sum(c for pair, c in draws.items() if pair[1] == top_pair[1]) / 20_000
    assert abs(found[0] - first) < 0.02 and abs(found[1] - second) < 0.02


def _exploring_engine() -> Engine:
    engine = Engine.open(None, EXPLORING, background_training=False)
    engine.upsert_items([{"item_id": f"i{k}"} for k in range(40)])
    engine.ingest(
        [
            {
                "user_id": f"u{k % 9}",
                "item_id": f"i{(k * 7 + k // 9) % 40}",
                "type": "click",
                "timestamp": T0 + k,
            }
            for k in range(400)
        ]
    )
    return engine


def test_randomised_answers_are_logged_with_propensities() -> None:
    with _exploring_engine() as engine:
        orders = set()
        for k in range(30):
            answer = engine.serve("u1", n=5, at=T0 + 1_000 + k)
            orders.add(tuple(r.item_id for r in answer.items))
            assert len({r.item_id for r in answer.items}) == 5
        assert len(orders) > 1  # drawn, not the one ranking
        assert engine.measurement.log.flush()
        logged = [served for served, _ in engine.measurement.log.lists()]
        assert len(logged) == 30
        for served in logged:
            assert served.propensities is not None and len(served.propensities) == 5
            assert all(0 < p <= 1 for p in served.propensities)


def test_off_policy_estimates_from_a_replayed_log() -> None:
    """The deterministic ranking evaluated on randomised lists: bounded, and 0 without clicks."""
    with _exploring_engine() as engine:
        answers = [engine.serve(f"u{k % 9}", n=4, at=T0 + 2_000 + k) for k in range(60)]
        clicks = [
            {
                "user_id": f"u{k % 9}",
                "item_id": a.items[0].item_id,
                "type": "click",
                "timestamp": T0 + 2_000 + k,
                "recommendation_id": a.recommendation_id,
            }
            for k, a in enumerate(answers)
            if k % 3 == 0
        ]
        engine.ingest(clicks)
        assert engine.measurement.log.flush()
        events = [pair for batch in engine.store.iter_events() for pair in batch]
        lists = [served for served, _ in engine.measurement.log.lists()]
    items = [Item(item_id=f"i{k}") for k in range(40)]
    deterministic = EngineConfig.from_dict({"content": {"encoder": "none"}})
    estimate = estimate_ctr(events, lists, items, deterministic)
    assert estimate.lists == 60 and estimate.positions == 240
    assert 0 < estimate.matched <= 240
    for interval in (estimate.ips, estimate.snips):
        assert 0 <= interval.low <= interval.value <= interval.high
    # Nothing clicked: both estimates are 0.
    silent = estimate_ctr(
        [pair for pair in events if pair[1].recommendation_id is None], lists, items, deterministic
    )
    assert silent.snips.value == 0 and silent.ips.value == 0
