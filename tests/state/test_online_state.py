"""Online state: ids to indices, histories and the log columns, as the models will see them."""

from __future__ import annotations

import numpy as np

from freshrec.config import EngineConfig
from freshrec.models import EventBatch
from freshrec.state.columns import EventColumns
from freshrec.state.online import OnlineState
from freshrec.state.vocabulary import IdVocabulary
from freshrec.types import Event, Item


def batch(start: int, size: int) -> EventBatch:
    k = np.arange(start, start + size)
    return EventBatch(k % 7, k % 11, (k % 3) - 0.5, k * 1.5, k % 2 == 0)


def test_columns_keep_every_append_in_order_however_small() -> None:
    columns = EventColumns(capacity=4)
    sizes = [1, 2, 1, 300, 1, 0, 5] + [1] * 600  # more small appends than are held back
    start = 0
    for size in sizes:
        columns.append(batch(start, size))
        start += size
        assert len(columns) == start
    whole = batch(0, start)
    got = columns.slice()
    for name in EventBatch.__slots__:  # values are exact in the narrower stored dtypes
        np.testing.assert_array_equal(getattr(got, name), getattr(whole, name))
    tail = columns.slice(start - 3)
    np.testing.assert_array_equal(tail.uidx, whole.uidx[-3:])
    columns.append(batch(start, 2))  # appending after a read still works
    assert len(columns) == start + 2
    np.testing.assert_array_equal(columns.slice(start).iidx, batch(start, 2).iidx)


def test_vocabulary_add_all_assigns_in_order_of_first_sight() -> None:
    vocabulary = IdVocabulary(["a"])
    assert vocabulary.add_all(["b", "a", "c", "b"]) == [1, 0, 2, 1]
    assert vocabulary.ids_of([2, 0]) == ["c", "a"]
    assert vocabulary.add_all([]) == []


def test_index_events_maps_ids_records_histories_and_logs() -> None:
    state = OnlineState(EngineConfig())
    events = [
        Event("u1", "a", "click", 1.0),
        Event("u2", "b", "view", 2.0),
        Event("u1", "b", "dislike", 3.0),
        Event("u2", "a", "rating", 4.0, 5.0),
        Event("u2", "c", "rating", 5.0, 2.0),
    ]
    got = state.index_events(events)
    assert got.uidx.tolist() == [0, 1, 0, 1, 1]
    assert got.iidx.tolist() == [0, 1, 1, 0, 2]
    assert got.weight.tolist() == [1.0, 0.5, -1.0, 1.0, 1.0]
    assert got.positive.tolist() == [True, False, False, True, False]
    assert len(state.columns) == 5 and len(state.catalog) == 3
    first = state.histories.get(0)
    assert first is not None and list(first.seen) == [0, 1] and first.negative == {1}
    # Events alone list no item: nothing is recommendable until the catalogue creates it.
    assert state.allowed(0, None, None, exclude_seen=False).tolist() == [False, False, False]
    assert state.catalog.unlisted_count == 3
    state.apply_items([Item("a"), Item("b"), Item("c")])
    assert state.catalog.unlisted_count == 0
    allowed = state.allowed(0, None, None)
    assert allowed.tolist() == [False, False, True]
    assert state.allowed(0, None, None, exclude_seen=False).tolist() == [True, False, True]


def test_a_users_seen_items_are_bounded_and_the_oldest_go_first() -> None:
    config = EngineConfig.from_dict({"history": {"max_seen_items": 3}})
    state = OnlineState(config)
    state.index_events([Event("crawler", f"i{k}", "view", float(k)) for k in range(10)])
    state.apply_items([Item(f"i{k}") for k in range(10)])
    history = state.histories.get(0)
    assert history is not None and list(history.seen) == [7, 8, 9]  # the newest three
    assert state.allowed(0, None, None).tolist() == [True] * 7 + [False] * 3
    state.index_events([Event("crawler", "i8", "view", 11.0)])  # seen again: nothing moves
    assert list(history.seen) == [7, 8, 9]
