"""One writer, parallel readers, and the log offset that reads can wait for."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from conftest import small_config
from freshrec import Engine, OffsetNotReachedError, ValidationError
from freshrec.rwlock import ReadWriteLock
from freshrec.simulate import ShopConfig, SyntheticShop


def shop_engine(background: bool = False) -> tuple[Engine, list[dict[str, Any]]]:
    shop = SyntheticShop(ShopConfig(n_users=150, n_items=120, n_events=4_000, seed=4))
    engine = Engine.open(None, small_config(content={"encoder": "none"}), background)
    engine.upsert_items(shop.items())
    events = list(shop.events())
    engine.ingest(events[:3_000])
    engine.train()
    return engine, events[3_000:]


def test_two_readers_hold_the_lock_at_once_and_a_writer_waits_for_both() -> None:
    lock = ReadWriteLock()
    inside = threading.Barrier(2, timeout=5)  # both readers must be inside together
    wrote: list[float] = []
    released_at: list[float] = []

    def read() -> None:
        with lock.reading():
            inside.wait()
            time.sleep(0.05)
            released_at.append(time.monotonic())

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    time.sleep(0.01)

    def write() -> None:
        with lock.writing():
            wrote.append(time.monotonic())

    writer = threading.Thread(target=write)
    writer.start()
    for thread in [*readers, writer]:
        thread.join(5)
    assert len(released_at) == 2 and wrote and wrote[0] >= max(released_at)


def test_the_writer_may_read_and_write_again_while_it_writes() -> None:
    lock = ReadWriteLock()
    with lock.writing(), lock.writing(), lock.reading():
        pass
    with lock.reading():  # and the lock is free again
        pass


def test_reads_write_no_model_state_new_items_get_vectors_from_the_writer() -> None:
    engine, live = shop_engine()
    with engine:
        engine.ingest(live[:200])
        factors = engine._models.factors
        # Before any read: the writer gave every new item its vector.
        assert factors.backlog == 0
        rows_before = factors._item_factors.copy()
        engine.recommend_ids(live[0]["user_id"], 10)
        assert (factors._item_factors == rows_before).all()


def test_parallel_readers_during_writes_answer_what_one_reader_answers() -> None:
    engine, live = shop_engine()
    users = sorted({event["user_id"] for event in live})[:40]
    with engine:
        expected = {user: engine.recommend_ids(user, 10) for user in users}
        got: dict[str, list[str]] = {}
        failures: list[BaseException] = []

        def ask(part: list[str]) -> None:
            try:
                for _ in range(5):
                    for user in part:
                        got[user] = engine.recommend_ids(user, 10)
            except BaseException as exc:  # reported below, not lost in the thread
                failures.append(exc)

        threads = [threading.Thread(target=ask, args=(users[k::2],)) for k in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not failures and got == expected
        # With a writer in between, answers still come (and reflect it afterwards).
        stop = threading.Event()

        def write() -> None:
            for start in range(0, len(live), 50):
                engine.ingest(live[start : start + 50])
            stop.set()

        writer = threading.Thread(target=write)
        reader = threading.Thread(target=lambda: [ask(users) for _ in iter(stop.is_set, True)])
        writer.start()
        reader.start()
        writer.join(60)
        reader.join(60)
        assert not failures


def test_ingest_returns_the_offset_a_read_can_wait_for() -> None:
    with Engine.open(None, small_config()) as engine:
        engine.upsert_items([{"item_id": "a"}, {"item_id": "b"}])
        first = engine.ingest([{"user_id": "u", "item_id": "a", "type": "click"}])
        second = engine.ingest(
            [
                {"user_id": "v", "item_id": "a", "type": "click"},
                {"user_id": "v", "item_id": "b", "type": "click"},
            ]
        )
        assert (first.offset, second.offset) == (1, 3) == (1, engine.applied_offset)
        assert engine.recommend_ids("u", 5, at_least=second.offset) == ["b"]
        assert engine.wait_for_offset(2) == 3
        with pytest.raises(OffsetNotReachedError) as raised:
            engine.wait_for_offset(4, timeout=0.05)
        assert raised.value.field == "at_least" and raised.value.applied == 3
        with pytest.raises(ValidationError, match="at_least"):
            engine.recommend("u", at_least=-1)
        rejected = engine.ingest([{"user_id": "u"}])  # nothing valid: the offset stands
        assert rejected.offset == 3 and rejected.errors


def test_a_read_waits_for_an_ingest_still_applying() -> None:
    with Engine.open(None, small_config()) as engine:
        engine.upsert_items([{"item_id": "a"}, {"item_id": "b"}])
        timer = threading.Timer(
            0.1, engine.ingest, args=([{"user_id": "u", "item_id": "a", "type": "click"}],)
        )
        timer.start()
        assert engine.wait_for_offset(1, timeout=5) == 1
        timer.join()
