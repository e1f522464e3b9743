"""Other users' events reach every answer within ``serving.cache.max_age_seconds``."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from conftest import small_config
from freshrec import Engine
from freshrec.serving import create_app
from freshrec.serving.cache import ENTRY_OVERHEAD_BYTES, RecommendationCache

from .serving_helpers import BASE_TIME

MAX_AGE_SECONDS = 0.2


@pytest.fixture
def client() -> Iterator[TestClient]:
    config = small_config(serving={"cache": {"max_age_seconds": MAX_AGE_SECONDS}})
    with Engine.open(None, config) as engine:
        engine.upsert_items([{"item_id": "i1"}, {"item_id": "i2"}, {"item_id": "i3"}])
        with TestClient(create_app(engine, auth=None, open_access=True)) as client:
            yield client


def click(user: str, item: str, t: int) -> dict[str, object]:
    return {"user_id": user, "item_id": item, "type": "click", "timestamp": BASE_TIME + t}


def first(client: TestClient, user: str) -> str | None:
    items = client.get(f"/v1/recommendations/{user}?n=5").json()["items"]
    return items[0]["item_id"] if items else None


def test_another_users_event_reaches_a_cached_answer_within_the_age_limit(
    client: TestClient,
) -> None:
    """The README's example over HTTP: u2 is answered and cached, then u1 goes i1 -> i2."""
    assert client.post("/v1/events", json=click("u2", "i1", 0)).status_code == 202
    stale = first(client, "u2")
    assert client.get("/v1/recommendations/u2?n=5").status_code == 200  # cached now
    sent = client.post("/v1/events", json=[click("u1", "i1", 1), click("u1", "i2", 2)])
    assert sent.status_code == 202
    engine: Engine = client.app.state.serving.engine  # type: ignore[attr-defined]
    assert engine.recommend("u2", n=5)[0].item_id == "i2"
    time.sleep(MAX_AGE_SECONDS * 1.5)  # older than the limit: the cache may not serve it
    assert first(client, "u2") == "i2" != stale
    assert client.app.state.serving.cache.expired >= 1  # type: ignore[attr-defined]
    assert "freshrec_recommendation_cache_expired_total" in client.get("/metrics").text


def test_the_users_own_event_never_waits_for_the_age_limit(client: TestClient) -> None:
    client.post("/v1/events", json=[click("u1", "i1", 0), click("u1", "i2", 1)])
    client.post("/v1/events", json=click("u2", "i1", 2))
    assert first(client, "u2") == "i2"
    client.post("/v1/events", json=click("u2", "i2", 3))
    assert first(client, "u2") != "i2"  # at once, well inside the age limit


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_older_than_the_limit_is_never_served() -> None:
    clock = FakeClock()
    cache = RecommendationCache(max_age_seconds=1.0, clock=clock)
    cache.put("k", b"[]")
    clock.now = 1.0
    assert cache.get("k") == b"[]"
    clock.now = 1.01
    assert cache.get("k") is None
    assert (cache.hits, cache.misses, cache.expired, len(cache), cache.bytes) == (1, 1, 1, 0, 0)


def test_the_cache_is_bounded_by_bytes_as_well_as_by_count() -> None:
    answer = b"x" * 1_000  # one answer of ~1 KB
    per_entry = len(answer) + ENTRY_OVERHEAD_BYTES
    cache = RecommendationCache(max_entries=100, max_bytes=10 * per_entry, max_age_seconds=60.0)
    for k in range(50):
        cache.put(k, answer)
        assert cache.bytes <= 10 * per_entry
    assert len(cache) == 10 and cache.bytes == 10 * per_entry
    assert cache.get(39) is None and cache.get(40) == answer  # the least recent went first
    cache.put(40, b"y")  # replacing an entry counts its new size only
    assert cache.bytes == 9 * per_entry + 1 + ENTRY_OVERHEAD_BYTES
    too_big = RecommendationCache(max_bytes=per_entry - 1, max_age_seconds=60.0)
    too_big.put("k", answer)
    assert len(too_big) == 0 and too_big.bytes == 0
    by_count = RecommendationCache(max_entries=3, max_age_seconds=60.0)
    for k in range(5):
        by_count.put(k, answer)
    assert len(by_count) == 3 and by_count.bytes == 3 * per_entry


@pytest.mark.parametrize("off", [{"max_entries": 0}, {"max_bytes": 0}, {"max_age_seconds": 0}])
def test_any_zero_bound_turns_the_cache_off(off: dict[str, float]) -> None:
    cache = RecommendationCache(**off)  # type: ignore[arg-type]
    cache.put("k", b"[]")
    assert cache.get("k") is None and len(cache) == 0
