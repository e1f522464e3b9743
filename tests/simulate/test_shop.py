from collections import Counter, defaultdict
from itertools import islice

import numpy as np
import pytest

from freshrec.simulate import EVENT_TYPES, ShopConfig, SyntheticShop
from freshrec.simulate.vocabulary import category_words
from freshrec.types import BUILTIN_EVENT_TYPES, parse_event, parse_item, parse_user

SMALL = ShopConfig(n_users=300, n_items=400, n_events=30_000, seed=7)


@pytest.fixture(scope="module")
def shop() -> SyntheticShop:
    return SyntheticShop(SMALL)


@pytest.fixture(scope="module")
def events(shop: SyntheticShop) -> list[dict]:
    return list(shop.events())


def test_same_seed_same_shop_and_other_seed_other_shop(shop: SyntheticShop) -> None:
    again = SyntheticShop(SMALL)
    assert list(again.items()) == list(shop.items())
    assert list(again.users()) == list(shop.users())
    assert list(islice(again.events(), 5_000)) == list(islice(shop.events(), 5_000))
    other = SyntheticShop(ShopConfig(n_users=300, n_items=400, n_events=30_000, seed=8))
    assert list(islice(other.events(), 100)) != list(islice(shop.events(), 100))


def test_events_can_be_generated_twice_from_one_shop(shop: SyntheticShop) -> None:
    first = [len(chunk) for chunk in shop.events_arrays()]
    assert [len(chunk) for chunk in shop.events_arrays()] == first


def test_ids_are_unique_and_records_validate(shop: SyntheticShop) -> None:
    items = [parse_item(raw) for raw in shop.items()]
    users = [parse_user(raw) for raw in shop.users()]
    assert [i.item_id for i in items] == [f"i{n}" for n in range(SMALL.n_items)]
    assert len({u.user_id for u in users}) == SMALL.n_users
    assert all(i.title and i.text and i.categories for i in items)
    assert all(isinstance(i.properties["price"], float) for i in items)
    assert {len(i.categories) for i in items} == {1, 2}


def test_exact_count_in_timestamp_order(events: list[dict]) -> None:
    assert len(events) == SMALL.n_events
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)
    assert stamps[0] >= SMALL.start_timestamp


def test_every_event_type_appears_and_validates(events: list[dict]) -> None:
    counts = Counter(e["type"] for e in events)
    assert set(counts) == set(EVENT_TYPES) == set(BUILTIN_EVENT_TYPES)
    # The funnel narrows: more views than clicks than purchases.
    assert counts["view"] > counts["click"] > counts["purchase"]
    for raw in events[:2_000]:
        parse_event(raw, BUILTIN_EVENT_TYPES, now=SMALL.start_timestamp + 1e9)


def test_only_ratings_carry_values_of_one_to_five(events: list[dict]) -> None:
    values = {e["value"] for e in events if e["type"] == "rating"}
    assert values <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert len(values) >= 3
    assert all(e["value"] is None for e in events if e["type"] != "rating")


def test_events_reference_existing_items_created_before_them(
    shop: SyntheticShop, events: list[dict]
) -> None:
    created = {raw["item_id"]: raw["created_at"] for raw in shop.items()}
    users = {raw["user_id"] for raw in shop.users()}
    assert all(e["user_id"] in users for e in events)
    assert all(created[e["item_id"]] <= e["timestamp"] for e in events)
    # New items keep arriving during the period and do get traffic.
    new_items = {i for i, at in created.items() if at > SMALL.start_timestamp}
    assert len(new_items) > 0.2 * SMALL.n_items
    assert len(new_items & {e["item_id"] for e in events}) > 0.5 * len(new_items)


def test_activity_and_popularity_are_heavy_tailed(events: list[dict]) -> None:
    per_user = sorted(Counter(e["user_id"] for e in events).values(), reverse=True)
    top_tenth = sum(per_user[: SMALL.n_users // 10]) / len(events)
    assert top_tenth > 0.3
    per_item = sorted(Counter(e["item_id"] for e in events).values(), reverse=True)
    assert sum(per_item[: SMALL.n_items // 10]) / len(events) > 0.3


def test_events_of_a_user_concentrate_on_their_top_categories() -> None:
    shop = SyntheticShop(ShopConfig(n_users=200, n_items=400, n_events=30_000, drift_probability=0))
    by_user: dict[str, list[str]] = defaultdict(list)
    for event in shop.events():
        by_user[event["user_id"]].append(shop.item_category(event["item_id"]))
    shares = [
        np.mean([c in set(shop.user_top_categories(user, 3)) for c in categories])
        for user, categories in by_user.items()
        if len(categories) >= 100
    ]
    assert len(shares) >= 20
    # Uniform interest would give 3/20 = 0.15.
    assert np.mean(shares) > 0.55


def test_drifting_tastes_move_the_late_events() -> None:
    config = ShopConfig(n_users=100, n_items=400, n_events=40_000, drift_probability=1.0, seed=3)
    shop = SyntheticShop(config)
    end = config.start_timestamp + config.duration_days * 86_400
    moved = [
        u
        for u in (f"u{n}" for n in range(100))
        if shop.user_top_categories(u, 1) != shop.user_top_categories(u, 1, at=end)
    ]
    assert len(moved) > 50
    late = [e for e in shop.events() if e["timestamp"] > end - 10 * 86_400]
    hits = [
        shop.item_category(e["item_id"]) in shop.user_top_categories(e["user_id"], 3, at=end)
        for e in late
    ]
    stale = [
        shop.item_category(e["item_id"]) in shop.user_top_categories(e["user_id"], 3) for e in late
    ]
    assert np.mean(hits) > np.mean(stale) + 0.2


def test_item_text_carries_the_category(shop: SyntheticShop) -> None:
    def guess(text: str) -> str:
        def overlap(index: int) -> int:
            words = category_words(index)
            return sum(w in text for w in words.nouns + words.adjectives + words.uses)

        return category_words(max(range(SMALL.n_categories), key=overlap)).name

    items = list(shop.items())
    correct = [guess(raw["text"]) == raw["categories"][0] for raw in items]
    assert np.mean(correct) > 0.9


def test_user_text_names_their_true_top_categories(shop: SyntheticShop) -> None:
    with_text = [raw for raw in shop.users() if raw["text"]]
    assert 0.3 * SMALL.n_users < len(with_text) < 0.7 * SMALL.n_users
    for raw in with_text[:50]:
        first, second = shop.user_top_categories(raw["user_id"], 2)
        assert raw["text"] == f"likes {first} and {second}"


def test_ground_truth_accessors(shop: SyntheticShop) -> None:
    taste = shop.user_taste("u0")
    assert taste.shape == (SMALL.n_categories,)
    assert taste.sum() == pytest.approx(1.0)
    assert shop.user_top_categories("u0", 1)[0] == shop.category_names[int(taste.argmax())]
    assert shop.item_category("i0") in shop.category_names
    for bad in ("u300", "x1", "u", "i-1"):
        with pytest.raises(KeyError):
            shop.user_taste(bad)


def test_arrays_match_the_dicts(shop: SyntheticShop, events: list[dict]) -> None:
    chunks = list(shop.events_arrays())
    users = np.concatenate([c.user for c in chunks])
    kinds = np.concatenate([c.type for c in chunks])
    stamps = np.concatenate([c.timestamp for c in chunks])
    assert users.size == len(events)
    assert all(np.diff(stamps) >= 0)
    for n in (0, 777, len(events) - 1):
        assert events[n]["user_id"] == f"u{users[n]}"
        assert events[n]["type"] == EVENT_TYPES[kinds[n]]
        assert events[n]["timestamp"] == stamps[n]


def test_tiny_and_empty_shops() -> None:
    assert (
        list(SyntheticShop(ShopConfig(n_users=1, n_items=1, n_categories=1, n_events=0)).events())
        == []
    )
    one = list(SyntheticShop(ShopConfig(n_users=1, n_items=1, n_categories=1, n_events=5)).events())
    assert len(one) == 5
    assert {e["item_id"] for e in one} == {"i0"}


@pytest.mark.parametrize(
    "changes",
    [
        {"n_items": 5, "n_categories": 10},
        {"n_users": 0},
        {"drift_probability": 1.5},
        {"session_length_mean": 0.5},
        {"duration_days": 0},
    ],
)
def test_invalid_configs_are_refused(changes: dict) -> None:
    with pytest.raises(ValueError):
        ShopConfig(**changes)
