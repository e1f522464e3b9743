"""Cold start through the public API: new items, new users, text search, exploration slots.

Oracles by construction: two taste groups whose items share words ("jazz" records and
"garden" tools); a held-out item of each group must land with its group before any event.
"""

from __future__ import annotations

import pytest

from freshrec import Engine, EngineConfig
from freshrec.errors import ValidationError

BASE = 1_700_000_000
JAZZ_WORDS = ["saxophone", "trumpet", "bebop", "swing", "piano trio", "big band", "blue note"]
GARDEN_WORDS = ["spade", "rake", "soil", "seeds", "compost", "hedge trimmer", "watering can"]
JAZZ = [f"Jazz album {k}: {JAZZ_WORDS[k % 7]} and {JAZZ_WORDS[k * 3 % 7]} jazz" for k in range(40)]
GARDEN = [f"Garden {k}: {GARDEN_WORDS[k % 7]} and {GARDEN_WORDS[(k * 3) % 7]}" for k in range(40)]
HELD_OUT = ("jazz39", "garden39")


def catalogue() -> list[dict[str, object]]:
    items = [
        {"item_id": f"jazz{k}", "title": t, "categories": ["music"]} for k, t in enumerate(JAZZ)
    ]
    items += [
        {"item_id": f"garden{k}", "title": t, "categories": ["home"]} for k, t in enumerate(GARDEN)
    ]
    return items


def taste_world(engine: Engine, held_out: tuple[str, ...] = HELD_OUT) -> None:
    """80 users, each clicks items of one group; the held-out items get no events."""
    engine.upsert_items(catalogue())
    engine.upsert_users(
        [
            {"user_id": f"u{u}", "properties": {"club": "band" if u % 2 else "allotment"}}
            for u in range(80)
        ]
    )
    events = []
    for u in range(80):
        group = "jazz" if u % 2 else "garden"
        for k in range(39):
            if (u + k) % 3 == 0:
                events.append(
                    {
                        "user_id": f"u{u}",
                        "item_id": f"{group}{k}",
                        "type": "click",
                        "timestamp": BASE + u * 10 + k,
                    }
                )
    engine.ingest(events)
    engine.train()
    assert not set(held_out) & {e["item_id"] for e in events}


@pytest.fixture
def engine() -> Engine:
    config = EngineConfig.from_dict(
        {
            "training": {"retrain_every_events": 0, "min_events": 1},
            "factors": {"factors": 8, "iterations": 10},
        }
    )
    with Engine.open(None, config, background_training=False) as engine:
        yield engine


def test_rank_places_untouched_items_with_their_taste_group(engine: Engine) -> None:
    taste_world(engine)
    jazz_fan, garden_fan = "u1", "u0"
    assert engine.rank(jazz_fan, ["garden39", "jazz39"])[0].item_id == "jazz39"
    assert engine.rank(garden_fan, ["jazz39", "garden39"])[0].item_id == "garden39"
    top = engine.rank(jazz_fan, ["garden39", "jazz39"])[0]
    assert top.score > 0 and any(w.startswith("factors") for w in top.why)


def test_new_item_scenario_recommends_only_fresh_items(engine: Engine) -> None:
    taste_world(engine)
    answer = [r.item_id for r in engine.recommend("u1", n=3, scenario="new_item")]
    assert answer and answer[0] == "jazz39"
    assert set(answer) <= {"jazz39", "garden39"}


def test_new_user_is_served_from_stated_tastes_and_segments(engine: Engine) -> None:
    taste_world(engine)
    engine.upsert_users([{"user_id": "newcomer", "text": "I play the saxophone and love bebop"}])
    first = [r.item_id for r in engine.recommend("newcomer", n=3)]
    assert first and all(i.startswith("jazz") for i in first)
    engine.ingest(
        [{"user_id": "u0", "item_id": "garden1", "type": "click", "timestamp": BASE + 999}]
    )
    engine.upsert_users([{"user_id": "member", "properties": {"club": "allotment"}}])
    picks = [r.item_id for r in engine.recommend("member", n=3, scenario="new_user")]
    assert picks and all(i.startswith("garden") for i in picks)


def test_first_event_moves_a_new_user_in_the_same_cycle(engine: Engine) -> None:
    taste_world(engine)
    engine.ingest(
        [{"user_id": "fresh", "item_id": "garden2", "type": "click", "timestamp": BASE + 5000}]
    )
    answer = [r.item_id for r in engine.recommend("fresh", n=3)]
    assert answer and all(i.startswith("garden") for i in answer)


def test_text_search_finds_items_by_meaning(engine: Engine) -> None:
    taste_world(engine)
    hits = [r.item_id for r in engine.search("something for my vegetable patch", n=4)]
    assert len(hits) == 4 and all(i.startswith("garden") for i in hits)
    seen_by_u0 = set(engine.history("u0"))
    personal = [r.item_id for r in engine.search("garden tools", n=16, user_id="u0")]
    assert personal and not set(personal) & seen_by_u0
    only_music = [r.item_id for r in engine.search("garden tools", n=3, category="music")]
    assert all(i.startswith("jazz") for i in only_music)
    for bad in ("", "   ", "x" * 1001):
        with pytest.raises(ValidationError) as caught:
            engine.search(bad)
        assert caught.value.field == "q"


def test_hidden_items_never_come_back_from_content(engine: Engine) -> None:
    taste_world(engine)
    engine.upsert_items([{"item_id": "garden3", "title": GARDEN[3], "available": False}])
    assert "garden3" not in [r.item_id for r in engine.search("garden spade", n=16)]
    assert "garden3" not in [r.item_id for r in engine.similar("garden1", n=16)]


def test_similar_for_an_item_without_events_uses_its_content(engine: Engine) -> None:
    taste_world(engine)
    similar = [r.item_id for r in engine.similar("jazz39", n=3)]
    assert similar and all(i.startswith("jazz") for i in similar)


def test_item_vectors_must_match_the_declared_dimension() -> None:
    config = EngineConfig.from_dict({"content": {"vector_dim": 3, "encoder": "none"}})
    with Engine.open(None, config) as engine:
        engine.upsert_items([{"item_id": "a", "vector": [0.1, 0.2, 0.3]}])
        with pytest.raises(ValidationError) as caught:
            engine.upsert_items([{"item_id": "b", "vector": [0.1, 0.2]}])
        assert caught.value.field == "vector"
        assert engine.stats()["content"]["item_vectors"] == 1


def test_exploration_slot_gives_fresh_items_a_place_in_a_full_feed() -> None:
    config = EngineConfig.from_dict(
        {"training": {"retrain_every_events": 0}, "scenarios": {"new_item_share": 0.25}}
    )
    with Engine.open(None, config, background_training=False) as engine:
        engine.upsert_items(
            [{"item_id": f"old{k}", "created_at": BASE - 90 * 86_400} for k in range(12)]
        )
        events = [
            {"user_id": f"u{u}", "item_id": f"old{k}", "type": "click", "timestamp": BASE + u}
            for u in range(20)
            for k in range(12)
            if (u + k) % 4
        ]
        engine.ingest(events)
        engine.upsert_items([{"item_id": "brand-new", "created_at": BASE}])
        engine.ingest(
            [{"user_id": "me", "item_id": "old0", "type": "click", "timestamp": BASE + 50}]
        )
        answer = engine.recommend("me", n=4)
        assert [r.item_id for r in answer][3] == "brand-new"
        assert "new item" in answer[3].why
        scores = [r.score for r in answer]
        assert scores == sorted(scores, reverse=True)
        assert engine.recommend_ids("me", n=4) == [r.item_id for r in answer]
