"""Segment trending: what people with the same properties favour, for brand-new users."""

from __future__ import annotations

import numpy as np

from freshrec.config import TrendingConfig
from freshrec.models.base import EventBatch
from freshrec.models.segments import SegmentTrending, segments_of


def test_segments_of_buckets_numbers_and_skips_what_is_not_a_segment() -> None:
    props = {"age": 29.5, "vip": True, "zip": "x" * 100, "nan": float("nan"), "langs": ["EN"]}
    assert segments_of(props) == ("age=20-29", "langs=en", "vip=true")
    assert segments_of(props, keys=("vip",)) == ("vip=true",)
    assert segments_of({}) == ()


def test_new_user_gets_their_segments_favourites() -> None:
    model = SegmentTrending(TrendingConfig(), keys=("country",))
    model.set_user(0, {"country": "fr"})
    model.set_user(1, {"country": "de"})
    model.set_user(2, {"country": "fr"})  # the newcomer: no events yet
    model.set_user(3, {})  # no segments at all
    events = EventBatch.from_rows(
        [
            (0, 5, 1.0, 100.0, True),
            (0, 6, 1.0, 101.0, True),
            (1, 7, 3.0, 102.0, True),
            (1, 7, 3.0, 103.0, True),
            (0, 5, 1.0, 104.0, True),
            (0, 8, -1.0, 105.0, False),
        ]
    )
    model.partial_fit(events)
    scores = model.score_user(2, 10)
    assert scores is not None
    assert int(np.argmax(scores)) == 5  # the French favourite, not the global one (7)
    assert scores[7] == 0 and scores[8] == 0  # other segment; a rejection adds nothing
    assert model.score_user(3, 10) is None
    assert model.recommend(2, 2, exclude=[5], n_items=10).tolist() == [6]


def test_fit_equals_partial_fit_on_the_same_events() -> None:
    rows = [(u % 3, (u * 7) % 11, 1.0, float(u), True) for u in range(60)]
    a = SegmentTrending(TrendingConfig(), min_users=1)
    b = SegmentTrending(TrendingConfig(), min_users=1)
    for m in (a, b):
        for u in range(3):
            m.set_user(u, {"group": "odd" if u % 2 else "even"})
    a.fit(EventBatch.from_rows(rows))
    b.partial_fit(EventBatch.from_rows(rows[:30]))
    b.partial_fit(EventBatch.from_rows(rows[30:]))
    for u in range(3):
        sa, sb = a.score_user(u, 11), b.score_user(u, 11)
        assert sa is not None and sb is not None and np.allclose(sa, sb)


def test_undeclared_properties_segment_only_with_low_cardinality_and_support() -> None:
    model = SegmentTrending(TrendingConfig(), max_values_per_key=3, min_users=2)
    for u in range(40):  # unique e-mails and zips, a plan most users share
        model.set_user(u, {"email": f"user{u}@example.com", "zip": f"{10000 + u}", "plan": "pro"})
    model.set_user(40, {"plan": "free"})
    assert set(model._segment_ids) == {"plan=pro"}  # e-mail and zip: never a segment
    assert model.user_segments(0) == model.user_segments(1) == (model._segment_ids["plan=pro"],)
    assert not model.has_user(40)  # "free" waits for a second user
    model.set_user(41, {"plan": "free"})
    assert model.has_user(40) and model.has_user(41)  # the first one joins it then
    assert len(model._popularity) == 2  # one count per item per segment: two in all
    assert model._waiting == {} and model._dropped_keys == {"email", "zip"}


def test_declared_keys_always_segment() -> None:
    model = SegmentTrending(TrendingConfig(), keys=("email",), min_users=5)
    model.set_user(0, {"email": "a@example.com", "plan": "pro"})
    assert set(model._segment_ids) == {"email=a@example.com"}
