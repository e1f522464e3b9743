"""The storage contract, written once and run for every backend.

To add a backend (Postgres, ...), append a ``StoreFactory`` to ``FACTORIES``: ``open`` receives a
per-test location and must return a store; calling it again with the same location must reopen
the same data when ``durable`` is true.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from freshrec.store import MemoryStore, SqliteStore, Store
from freshrec.store.base import FORGOTTEN, is_forgotten
from freshrec.types import Event, Item, User


@dataclass(frozen=True)
class StoreFactory:
    name: str
    open: Callable[[Path], Store]
    durable: bool


FACTORIES = [
    StoreFactory("sqlite-memory", lambda where: SqliteStore(None), durable=False),
    StoreFactory("sqlite-file", lambda where: SqliteStore(where / "store.db"), durable=True),
    StoreFactory("memory", lambda where: MemoryStore(), durable=False),
]
DURABLE = [f for f in FACTORIES if f.durable]


@pytest.fixture(params=FACTORIES, ids=lambda f: f.name)
def factory(request: pytest.FixtureRequest) -> StoreFactory:
    return request.param


@pytest.fixture
def store(factory: StoreFactory, tmp_path: Path) -> Iterator[Store]:
    opened = factory.open(tmp_path)
    yield opened
    opened.close()


def ev(k: int, event_id: str | None = "auto", **fields: Any) -> Event:
    """A valid event number ``k``; ``event_id="auto"`` gives it the id ``e{k}``."""
    base: dict[str, Any] = {
        "user_id": f"u{k % 3}",
        "item_id": f"i{k % 5}",
        "type": "click",
        "timestamp": 1_700_000_000.0 + k,
        "value": None,
        "event_id": f"e{k}" if event_id == "auto" else event_id,
        "recommendation_id": None,
    }
    base.update(fields)
    return Event(**base)


def all_events(store: Store, batch_size: int = 10_000) -> list[tuple[int, Event]]:
    return [pair for batch in store.iter_events(0, batch_size) for pair in batch]


# -- event log ------------------------------------------------------------------------------


def test_empty_store(store: Store) -> None:
    assert store.count_events() == 0
    assert store.last_offset() == 0
    assert all_events(store) == []
    assert store.count_items() == 0
    assert list(store.iter_items()) == []
    assert store.count_users() == 0
    assert store.get_item("nope") is None
    assert store.get_user("nope") is None
    assert store.get_blob("nope") is None


def test_append_returns_one_flag_per_event_and_round_trips_every_field(store: Store) -> None:
    events = [
        ev(0),
        ev(1, value=4.5, type="rating", recommendation_id="r-1"),
        ev(2, event_id=None),
        Event("ü-user 用户", "item/with spaces", "purchase", 1_700_000_003.25),
    ]
    assert store.append_events(events) == [True, True, True, True]
    stored = all_events(store)
    assert [e for _, e in stored] == events
    assert store.count_events() == 4


def test_empty_append_is_a_no_op(store: Store) -> None:
    assert store.append_events([]) == []
    assert store.count_events() == 0
    assert store.last_offset() == 0


def test_duplicate_event_id_within_one_batch(store: Store) -> None:
    first, again = ev(0, event_id="same"), ev(1, event_id="same")
    assert store.append_events([first, ev(2), again]) == [True, True, False]
    assert [e for _, e in all_events(store)] == [first, ev(2)]


def test_duplicate_event_id_across_batches(store: Store) -> None:
    assert store.append_events([ev(0), ev(1)]) == [True, True]
    # Same ids with different content are still duplicates: the id is the idempotency key.
    assert store.append_events([ev(1, item_id="other"), ev(2), ev(0)]) == [False, True, False]
    assert [e.event_id for _, e in all_events(store)] == ["e0", "e1", "e2"]
    assert store.count_events() == 3


def test_events_without_id_are_never_duplicates(store: Store) -> None:
    same = ev(0, event_id=None)
    assert store.append_events([same, same]) == [True, True]
    assert store.append_events([same]) == [True]
    assert store.count_events() == 3


def test_offsets_increase_and_iteration_resumes_after_an_offset(store: Store) -> None:
    store.append_events([ev(k) for k in range(3)])
    store.append_events([ev(k) for k in range(3, 7)])
    pairs = all_events(store)
    offsets = [offset for offset, _ in pairs]
    assert len(offsets) == 7
    assert all(b > a for a, b in itertools.pairwise(offsets))
    assert offsets[0] > 0
    assert store.last_offset() == offsets[-1]
    assert [e.event_id for _, e in pairs] == [f"e{k}" for k in range(7)]

    # Batch boundaries: every batch but the last is full, none is empty, order is kept.
    batches = list(store.iter_events(0, batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [pair for b in batches for pair in b] == pairs

    # Resuming after any offset yields exactly the events after it.
    for cut in range(len(offsets)):
        rest = [pair for b in store.iter_events(offsets[cut], batch_size=2) for pair in b]
        assert rest == pairs[cut + 1 :]
    assert list(store.iter_events(store.last_offset())) == []


def test_duplicates_do_not_take_offsets_or_count(store: Store) -> None:
    store.append_events([ev(0), ev(1)])
    before = store.last_offset()
    assert store.append_events([ev(0), ev(1)]) == [False, False]
    assert store.last_offset() == before
    assert store.count_events() == 2
    store.append_events([ev(2)])
    assert store.last_offset() > before


def test_iteration_sees_events_appended_between_batches(store: Store) -> None:
    store.append_events([ev(k) for k in range(4)])
    seen: list[str | None] = []
    for batch in store.iter_events(0, batch_size=2):
        seen.extend(e.event_id for _, e in batch)
        if len(seen) == 2:
            store.append_events([ev(4)])
    assert seen == [f"e{k}" for k in range(5)]


# -- failures are all or nothing ------------------------------------------------------------


class Boom(Exception):
    """Raised by the injected bad element."""


class ExplodingEvent:
    """Not an Event: reading any field raises ``Boom``."""

    def __getattr__(self, name: str) -> Any:
        raise Boom(name)


class ExplodesAfterId:
    """Not an Event: has an ``event_id`` but every other field raises ``Boom``."""

    event_id = "poison"

    def __getattr__(self, name: str) -> Any:
        raise Boom(name)


@pytest.mark.parametrize("position", [0, 2, 4])
def test_a_batch_that_raises_leaves_nothing_written(store: Store, position: int) -> None:
    store.append_events([ev(100)])
    batch: list[Any] = [ev(k) for k in range(4)]
    batch.insert(position, ExplodingEvent())
    with pytest.raises(Boom):
        store.append_events(batch)
    assert store.count_events() == 1
    assert [e.event_id for _, e in all_events(store)] == ["e100"]
    # The ids of the failed batch were not consumed and the store still works.
    assert store.append_events([ev(k) for k in range(4)]) == [True] * 4
    assert store.count_events() == 5


@pytest.mark.parametrize(
    "poison",
    [
        pytest.param(lambda: ExplodesAfterId(), id="field-raises"),
        pytest.param(lambda: ev(99, user_id=object()), id="unbindable-value"),
    ],
)
def test_a_batch_is_all_or_nothing_when_a_late_element_is_bad(
    store: Store, poison: Callable[[], Any]
) -> None:
    """Good events come first, so a backend that inserts row by row must roll them back."""
    store.append_events([ev(100)])
    batch = [ev(0), ev(1), ev(2), poison()]
    try:
        store.append_events(batch)
    except Exception:
        assert store.count_events() == 1
        assert [e.event_id for _, e in all_events(store)] == ["e100"]
        assert store.append_events([ev(0), ev(1), ev(2)]) == [True] * 3
    else:  # a backend may store what it was given, but then all of it
        assert store.count_events() == 1 + len(batch)


# -- items, users, blobs --------------------------------------------------------------------


def item(item_id: str, **fields: Any) -> Item:
    return Item(item_id=item_id, **fields)


def test_items_round_trip_every_field(store: Store) -> None:
    full = Item(
        item_id="i1",
        title="Kind of Blue",
        text="modal jazz — 1959",
        categories=("jazz", "vinyl"),
        properties={"price": 12.5, "tags": ["a", "b"], "nested": {"x": None}},
        created_at=1_700_000_000.5,
        vector=(0.25, -1.0, 3.0),
        available=False,
    )
    bare = Item("i2")
    assert store.upsert_items([full, bare]) == 2
    assert store.get_item("i1") == full
    assert store.get_item("i2") == bare
    assert list(store.iter_items()) == [full, bare]
    assert store.count_items() == 2


def test_item_upsert_keeps_position_and_replaces_data(store: Store) -> None:
    store.upsert_items([item("a", title="A"), item("b", title="B"), item("c", title="C")])
    replaced = item("b", title="B2", categories=("new",), available=False)
    assert store.upsert_items([replaced, item("d")]) == 2
    assert [i.item_id for i in store.iter_items()] == ["a", "b", "c", "d"]
    assert store.get_item("b") == replaced
    assert store.count_items() == 4


def test_item_upsert_within_one_call_keeps_the_last_version(store: Store) -> None:
    store.upsert_items([item("a", title="first"), item("b"), item("a", title="second")])
    assert [i.item_id for i in store.iter_items()] == ["a", "b"]
    stored = store.get_item("a")
    assert stored is not None
    assert stored.title == "second"


def test_user_upsert_replaces_data(store: Store) -> None:
    alice = User("alice", {"age": 30}, "likes jazz")
    assert store.upsert_users([alice, User("bob")]) == 2
    assert store.get_user("alice") == alice
    assert store.get_user("bob") == User("bob")
    newer = User("alice", {"age": 31}, "likes blues")
    store.upsert_users([newer])
    assert store.get_user("alice") == newer
    assert store.count_users() == 2
    assert list(store.iter_users()) == [newer, User("bob")]  # insertion order, newest data


@pytest.mark.parametrize("data", [b"", b"\x00\x01\xff" * 1000, "é".encode()])
def test_blobs_round_trip_and_replace(store: Store, data: bytes) -> None:
    store.put_blob("model/current", data)
    assert store.get_blob("model/current") == data
    store.put_blob("model/current", b"newer")
    assert store.get_blob("model/current") == b"newer"
    assert store.get_blob("model/other") is None


# -- durability -----------------------------------------------------------------------------


@pytest.mark.parametrize("durable", DURABLE, ids=lambda f: f.name)
def test_a_reopened_store_keeps_everything(durable: StoreFactory, tmp_path: Path) -> None:
    first = durable.open(tmp_path)
    events = [ev(k) for k in range(5)] + [ev(5, event_id=None)]
    first.append_events(events)
    full = Item("i1", "T", "text", ("c",), {"p": 1}, 1.0, (1.0, 2.0), False)
    first.upsert_items([full, Item("i2")])
    first.upsert_users([User("u1", {"k": "v"}, "likes jazz")])
    first.put_blob("model/current", b"\x00weights")
    before = all_events(first)
    first.close()

    again = durable.open(tmp_path)
    try:
        assert all_events(again) == before
        assert again.count_events() == 6
        assert again.last_offset() == before[-1][0]
        assert list(again.iter_items()) == [full, Item("i2")]
        assert again.get_user("u1") == User("u1", {"k": "v"}, "likes jazz")
        assert again.get_blob("model/current") == b"\x00weights"
        # Idempotency survives the restart, and new offsets continue after the old ones.
        assert again.append_events([ev(0), ev(6)]) == [False, True]
        assert again.last_offset() > before[-1][0]
    finally:
        again.close()


# -- managing records -------------------------------------------------------------------------


def test_forgetting_a_user_empties_their_events_in_place_and_deletes_the_profile(
    store: Store,
) -> None:
    store.append_events([ev(k) for k in range(9)])  # users u0, u1, u2 in turn
    store.upsert_users([User("u1", {"email": "x@y"}), User("u2")])
    assert store.forget_user("u1") == 3
    logged = all_events(store)
    assert [offset for offset, _ in logged] == list(range(1, 10))  # no offset moved
    assert [is_forgotten(e) for _, e in logged] == [k % 3 == 1 for k in range(9)]
    assert all(e == FORGOTTEN for _, e in logged if is_forgotten(e))
    assert store.count_events() == 6
    assert store.last_offset() == 9
    assert store.get_user("u1") is None and store.get_user("u2") is not None
    assert store.forget_user("u1") == 0
    # Their event ids are gone too: the same events sent again are new.
    assert store.append_events([ev(1), ev(2)]) == [True, False]
    assert store.last_offset() == 10


def test_events_at_returns_the_asked_offsets_in_the_asked_order(store: Store) -> None:
    store.append_events([ev(k) for k in range(6)])
    found = store.events_at([5, 2, 99, 5, 3])
    assert [offset for offset, _ in found] == [5, 2, 3]
    assert [e.event_id for _, e in found] == ["e4", "e1", "e2"]
    assert store.events_at([]) == []


def test_listing_items_pages_in_id_order_and_filters_availability(store: Store) -> None:
    store.upsert_items([Item(f"i{k}", available=k != 2) for k in (3, 1, 4, 0, 2)])
    assert [i.item_id for i in store.list_items(None, 2, None)] == ["i0", "i1"]
    assert [i.item_id for i in store.list_items("i1", 10, None)] == ["i2", "i3", "i4"]
    assert [i.item_id for i in store.list_items(None, 10, True)] == ["i0", "i1", "i3", "i4"]
    assert [i.item_id for i in store.list_items(None, 10, False)] == ["i2"]
    assert store.list_items("i4", 10, None) == []
