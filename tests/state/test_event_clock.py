"""Popularity decays on the event clock: an imported old log keeps its popular items."""

from __future__ import annotations

import time

import numpy as np
import pytest

from freshrec import Engine, EngineConfig
from freshrec.state.popularity import DecayedPopularity, EventClock

DAY = 86_400.0


def test_a_silence_counts_at_most_the_cap_and_late_events_keep_their_place() -> None:
    clock = EventClock(max_gap_seconds=60.0)
    assert clock.place(1_000.0) == 1_000.0
    assert clock.place(1_030.0) == 1_030.0  # within the cap: the events' own time
    assert clock.place(1_000_000.0) == 1_090.0  # a long silence counts as 60 s
    assert clock.place(1_000_010.0) == 1_100.0
    assert clock.place(1_020.0) == 1_020.0  # a late event from before the silence
    assert clock.place(999_999.0) == 1_090.0  # inside the silence: not past its end
    uncapped = EventClock()
    assert [uncapped.place(t) for t in (5.0, 5e6, 7.0)] == [5.0, 5e6, 7.0]


def test_batched_and_single_counts_agree_across_a_capped_gap() -> None:
    one, many = DecayedPopularity(DAY, 3_600.0), DecayedPopularity(DAY, 3_600.0)
    stamps = [0.0, 10.0, 20.0, 30 * DAY, 30 * DAY + 5, 15.0, 30 * DAY + 9] * 3
    items = [k % 4 for k in range(len(stamps))]
    for i, t in zip(items, stamps, strict=True):
        one.add(i, t, 1.0)
    many.add_many(items, stamps, [1.0] * len(stamps))
    np.testing.assert_array_equal(one.scores(4), many.scores(4))


def old_log(start: float, days: float, n_events: int) -> list[dict[str, object]]:
    """A log over ``days`` from ``start``: 60 % of purchases are "hit", 30 % "b", 10 % "c"."""
    events = []
    for k in range(n_events):
        item = "hit" if k % 10 < 6 else ("b" if k % 10 < 9 else "c")
        stamp = start + days * DAY * k / n_events
        events.append({"user_id": f"u{k % 50}", "item_id": item, "type": "purchase",
                       "timestamp": stamp})  # fmt: skip
    return events


@pytest.mark.parametrize("age_days", [30.0, 10_000.0])  # a month, or MovieLens-100K's age
def test_a_new_user_after_importing_an_old_log_still_sees_its_popular_items(
    age_days: float,
) -> None:
    config = EngineConfig.from_dict({"training": {"retrain_every_events": 0}})
    with Engine.open(None, config, background_training=False) as engine:
        engine.upsert_items([{"item_id": i} for i in ("hit", "b", "c", "live1", "live2")])
        now = time.time()
        engine.ingest(old_log(now - (age_days + 30) * DAY, 30.0, 100))
        assert engine.recommend("newcomer", n=3)[0].item_id == "hit"
        # A few live events, on the wall clock (no timestamp given).
        engine.ingest(
            [
                {"user_id": "v1", "item_id": "live1", "type": "purchase"},
                {"user_id": "v2", "item_id": "live1", "type": "purchase"},
                {"user_id": "v3", "item_id": "live2", "type": "purchase"},
            ]
        )
        answer = [r.item_id for r in engine.recommend("newcomer", n=5)]
        assert answer[:3] == ["hit", "b", "c"], answer
        assert set(answer[3:]) == {"live1", "live2"}  # counted, but 3 events are not 60
