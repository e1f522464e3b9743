"""Recommendations, similar items and ranking over HTTP, with the cache in between."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from freshrec import Engine

from .serving_helpers import BASE_TIME, error_of


def ids(response: Any) -> list[str]:
    return [item["item_id"] for item in response.json()["items"]]


def test_recommendations_shape(seeded: TestClient, engine: Engine) -> None:
    response = seeded.get("/v1/recommendations/u0?scenario=home&n=5")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"recommendation_id", "scenario", "variant", "model_version", "items"}
    assert body["scenario"] == "home"
    assert body["variant"] is None and body["model_version"] == engine.model_version
    assert len(body["items"]) == 5
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(item["why"] for item in body["items"])
    assert not set(ids(response)) & set(engine.history("u0"))
    expected = [r.item_id for r in engine.recommend("u0", 5)]
    assert ids(response) == expected


def test_every_response_has_its_own_recommendation_id(seeded: TestClient) -> None:
    first = seeded.get("/v1/recommendations/u0").json()
    second = seeded.get("/v1/recommendations/u0").json()  # a cache hit
    assert first["items"] == second["items"]
    assert first["recommendation_id"] != second["recommendation_id"]
    assert len(first["recommendation_id"]) == 32
    assert first["recommendation_id"][:12] <= second["recommendation_id"][:12]  # time-ordered


def test_exclude_and_category(seeded: TestClient) -> None:
    full = ids(seeded.get("/v1/recommendations/u0?n=10"))
    left_out = ids(seeded.get(f"/v1/recommendations/u0?n=10&exclude={full[0]},{full[1]}"))
    assert full[0] not in left_out and full[1] not in left_out
    odd = ids(seeded.get("/v1/recommendations/u0?n=10&category=odd"))
    assert odd and all(int(item_id[1:]) % 2 == 1 for item_id in odd)


def test_unknown_user_gets_the_cold_start_answer(seeded: TestClient) -> None:
    response = seeded.get("/v1/recommendations/newcomer?n=3")
    assert response.status_code == 200
    assert len(response.json()["items"]) == 3


def test_read_your_writes_through_a_warm_cache(seeded: TestClient, engine: Engine) -> None:
    before = seeded.get("/v1/recommendations/u0?n=10")
    seeded.get("/v1/recommendations/u0?n=10")  # warm: the second is a hit
    hits = seeded.app.state.serving.cache.hits
    assert hits == 1
    top = ids(before)[0]
    event = {"user_id": "u0", "item_id": top, "type": "purchase", "timestamp": BASE_TIME + 999}
    assert seeded.post("/v1/events", json=event).status_code == 202
    after = seeded.get("/v1/recommendations/u0?n=10")
    assert top not in ids(after)  # seen items never come back: the event is reflected
    assert ids(after) == [r.item_id for r in engine.recommend("u0", 10)]


def test_cache_hits_and_misses_in_metrics(seeded: TestClient) -> None:
    for _ in range(3):
        seeded.get("/v1/recommendations/u1")
    text = seeded.get("/metrics").text
    assert "freshrec_recommendation_cache_hits_total 2.0" in text
    assert "freshrec_recommendation_cache_misses_total 1.0" in text


def test_get_never_writes(seeded: TestClient, engine: Engine) -> None:
    engine.encode_pending()  # background encoding would change stats on its own
    before = engine.stats()
    history = engine.history("u0")
    for path in (
        "/v1/recommendations/u0",
        "/v1/recommendations/someone-new?n=3",
        "/v1/items/i1",
        "/v1/items/i1/similar",
        "/v1/items/unknown-item",
        "/v1/users/u0",
        "/dashboard?user=u0",
        "/metrics",
        "/health/ready",
    ):
        seeded.get(path)
    assert seeded.post("/v1/rank", json={"user_id": "u9", "item_ids": ["i1"]}).status_code == 200
    assert engine.stats() == before
    assert engine.history("u0") == history
    assert engine.history("someone-new") == []


@pytest.mark.parametrize("n", ["0", "1001", "-3", "ten", "2.5"])
def test_n_out_of_range(seeded: TestClient, n: str) -> None:
    for path in (f"/v1/recommendations/u0?n={n}", f"/v1/items/i1/similar?n={n}"):
        response = seeded.get(path)
        assert response.status_code == 422
        error = error_of(response)
        assert error["field"] == "n"
        assert error["code"] == "invalid"


def test_unknown_scenario_is_400(seeded: TestClient) -> None:
    response = seeded.get("/v1/recommendations/u0?scenario=nope")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "unknown_scenario"
    assert error["field"] == "scenario"
    assert "'nope'" in error["message"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/recommendations/", "user_id"),
        ("/v1/recommendations/a%01", "user_id"),
        ("/v1/recommendations/u0?exclude=a,%7F", "exclude"),
        ("/v1/recommendations/u0?category=%0A", "category"),
    ],
)
def test_bad_ids_in_recommendation_requests(seeded: TestClient, path: str, field: str) -> None:
    response = seeded.get(path)
    assert response.status_code == 400
    assert error_of(response)["field"] == field


def test_similar_items(seeded: TestClient, engine: Engine) -> None:
    response = seeded.get("/v1/items/i2/similar?n=4")
    assert response.status_code == 200
    body = response.json()
    assert body["scenario"] == "similar"
    assert len(body["recommendation_id"]) == 32
    assert "i2" not in ids(response)
    assert ids(response) == [r.item_id for r in engine.similar("i2", 4)]
    missing = seeded.get("/v1/items/zzz/similar")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "unknown_item"


def test_rank(seeded: TestClient, engine: Engine) -> None:
    candidates = ["i3", "i4", "unknown", "i5"]
    response = seeded.post("/v1/rank", json={"user_id": "u0", "item_ids": candidates})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"recommendation_id", "items"}
    assert ids(response) == [r.item_id for r in engine.rank("u0", candidates)]
    assert ids(response)[-1] == "unknown"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "u0"}, "item_ids"),
        ({"user_id": "u0", "item_ids": "i1"}, "item_ids"),
        ({"user_id": "u0", "item_ids": [1]}, "item_ids"),
        ({"item_ids": ["i1"]}, "user_id"),
        ({"user_id": "u0", "item_ids": [], "n": 3}, "n"),
        ({"user_id": "u0", "item_ids": ["i"] * 1001}, "item_ids"),
    ],
)
def test_rank_errors(seeded: TestClient, body: dict[str, Any], field: str) -> None:
    response = seeded.post("/v1/rank", json=body)
    assert response.status_code == 400
    assert error_of(response)["field"] == field


def test_search_by_words(seeded: TestClient, engine: Engine) -> None:
    engine.encode_pending()
    response = seeded.get("/v1/search", params={"q": "Item 7", "n": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["scenario"] == "search" and len(body["recommendation_id"]) == 32
    assert ids(response)[0] == "i7"
    assert ids(response) == [r.item_id for r in engine.search("Item 7", n=3)]
    personal = seeded.get("/v1/search", params={"q": "Item", "n": 50, "user_id": "u0"})
    assert not set(ids(personal)) & set(engine.history("u0"))


@pytest.mark.parametrize(
    ("params", "field"),
    [({"q": ""}, "q"), ({"q": "x" * 1001}, "q"), ({"q": "x", "n": 0}, "n"), ({}, "q")],
)
def test_search_errors(seeded: TestClient, params: dict[str, Any], field: str) -> None:
    response = seeded.get("/v1/search", params=params)
    assert response.status_code in (400, 422)
    assert error_of(response)["field"] == field
