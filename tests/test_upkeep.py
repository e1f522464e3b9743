"""The upkeep worker: derived state worked off in slices under a lock, off requests."""

from __future__ import annotations

import threading

import numpy as np

from conftest import ConfigFactory
from freshrec.engine import Engine
from freshrec.rwlock import ReadWriteLock
from freshrec.upkeep import Upkeep


def test_steps_run_under_the_lock_until_done_and_again_after_a_poke() -> None:
    lock = ReadWriteLock()
    remaining = [5]
    held: list[bool] = []

    def step() -> bool:
        held.append(lock._owner == threading.get_ident())  # the writer holds it
        remaining[0] -= 1
        return remaining[0] > 0

    upkeep = Upkeep(lock.writing, step)
    upkeep.poke()
    assert upkeep.wait_idle(5.0)
    assert remaining[0] == 0 and len(held) == 5 and all(held)
    remaining[0] = 2
    upkeep.poke()
    assert upkeep.wait_idle(5.0)
    assert len(held) == 7
    upkeep.close()
    remaining[0] = 3
    upkeep.poke()  # after close: ignored
    assert upkeep.wait_idle(1.0)
    assert len(held) == 7 and remaining[0] == 3


def test_a_failing_step_is_logged_and_the_worker_lives_on() -> None:
    calls = [0]

    def step() -> bool:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("boom")
        return False

    upkeep = Upkeep(ReadWriteLock().writing, step)
    upkeep.poke()
    assert upkeep.wait_idle(5.0)
    upkeep.poke()
    assert upkeep.wait_idle(5.0)
    assert calls[0] == 2
    upkeep.close()


def test_a_serving_engine_gives_a_backlog_of_new_items_vectors_between_requests(
    make_config: ConfigFactory,
) -> None:
    config = make_config(training={"retrain_every_events": 0})
    trained = [
        {"user_id": f"u{u}", "item_id": f"i{(u + k) % 10}", "type": "purchase"}
        for u in range(20)
        for k in range(4)
    ]
    n_new = 52  # more than one slice of the writer's does
    burst = [
        {"user_id": f"u{u}", "item_id": f"new{k}", "type": "purchase"}
        for k in range(n_new)
        for u in (k % 20, (k + 1) % 20)
    ]
    vectors = []
    # A serving engine (upkeep worker) and a replaying one (all on the next read).
    for background in (True, False):
        with Engine.open(None, config, background_training=background) as engine:
            engine.ingest(trained)
            engine.train()
            engine.ingest(burst)
            if background:
                engine.wait_for_training()  # includes the upkeep worker
                assert not engine._models.factors.has_backlog
            else:
                engine.recommend("u0")  # the read that does the backlog
            rows = [engine._state.items.get(f"new{k}") for k in range(n_new)]
            assert None not in rows
            vectors.append(engine._models.factors.trained_state()[0][rows])
    assert (np.linalg.norm(vectors[0], axis=1) > 0).all()
    np.testing.assert_allclose(vectors[0], vectors[1], rtol=1e-9, atol=1e-12)
