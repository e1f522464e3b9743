"""Items and users over HTTP: upserts, reads, hiding, and every way a body can be wrong."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from freshrec import Engine

from .serving_helpers import catalogue, error_of


def test_put_item_then_get_it(client: TestClient) -> None:
    body = {"title": "Blue mug", "categories": ["kitchen"], "properties": {"price": 9.5}}
    put = client.put("/v1/items/mug-1", json=body)
    assert put.status_code == 200
    assert put.json()["item_id"] == "mug-1"
    got = client.get("/v1/items/mug-1")
    assert got.status_code == 200
    assert got.json() == {
        "item_id": "mug-1",
        "title": "Blue mug",
        "text": "",
        "categories": ["kitchen"],
        "properties": {"price": 9.5},
        "created_at": None,
        "vector": None,
        "available": True,
    }


def test_item_ids_may_hold_slashes(client: TestClient) -> None:
    assert client.put("/v1/items/https://shop.example/p/1", json={}).status_code == 200
    got = client.get("/v1/items/https://shop.example/p/1")
    assert got.json()["item_id"] == "https://shop.example/p/1"


def test_batch_upsert_items(client: TestClient, engine: Engine) -> None:
    response = client.post("/v1/items", json=catalogue(5))
    assert response.status_code == 200
    assert response.json() == {"written": 5}
    assert engine.stats()["catalogue_items"] == 5


def test_batch_with_a_bad_item_writes_nothing_and_names_it(
    client: TestClient, engine: Engine
) -> None:
    items = [*catalogue(3), {"item_id": "x", "created_at": "not a time"}]
    response = client.post("/v1/items", json=items)
    assert response.status_code == 400
    error = error_of(response)
    assert error["field"] == "created_at"
    assert "items[3]" in error["message"]
    assert engine.stats()["catalogue_items"] == 0


def test_delete_hides_the_item_but_keeps_it(seeded: TestClient, engine: Engine) -> None:
    before = {r["item_id"] for r in seeded.get("/v1/recommendations/u0?n=30").json()["items"]}
    hidden = next(iter(before))
    response = seeded.delete(f"/v1/items/{hidden}")
    assert response.status_code == 200
    assert response.json()["available"] is False
    after = {r["item_id"] for r in seeded.get("/v1/recommendations/u0?n=30").json()["items"]}
    assert hidden not in after
    assert seeded.get(f"/v1/items/{hidden}").json()["available"] is False
    assert engine.history("u0")  # history kept
    assert seeded.put(f"/v1/items/{hidden}", json={"available": True}).status_code == 200
    assert hidden in {
        r["item_id"] for r in seeded.get("/v1/recommendations/u0?n=30").json()["items"]
    }


def test_unknown_item_is_404(client: TestClient) -> None:
    for response in (client.get("/v1/items/nope"), client.delete("/v1/items/nope")):
        assert response.status_code == 404
        error = error_of(response)
        assert error == {
            "code": "unknown_item",
            "message": "unknown item_id 'nope'",
            "field": "item_id",
        }


def test_put_with_a_different_id_in_the_body(client: TestClient) -> None:
    response = client.put("/v1/items/a", json={"item_id": "b"})
    assert response.status_code == 400
    assert error_of(response)["field"] == "item_id"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"title": 3}, "title", "must be a string"),
        ({"categories": "x", "colour": "red"}, "colour", "unknown item field"),
        ({"categories": [1]}, "categories", "must be a string"),
        ({"properties": []}, "properties", "must be an object"),
        ({"vector": ["a"]}, "vector", "list of numbers"),
        ({"available": "yes"}, "available", "must be a boolean"),
        ({"created_at": -5}, "created_at", "non-negative"),
    ],
)
def test_bad_item_fields(
    client: TestClient, body: dict[str, object], field: str, words: str
) -> None:
    response = client.put("/v1/items/a", json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["field"] == field
    assert words in error["message"]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/v1/items/", "must not be empty"),
        ("/v1/items/a%00b", "control characters"),
        ("/v1/items/a%0Ab", "control characters"),
        ("/v1/items/" + "x" * 257, "longer than 256"),
    ],
)
def test_bad_ids_in_paths(client: TestClient, path: str, words: str) -> None:
    for response in (client.get(path), client.put(path, json={}), client.delete(path)):
        assert response.status_code == 400
        error = error_of(response)
        assert error["field"] == "item_id"
        assert words in error["message"]


def test_batch_body_must_be_a_list(client: TestClient) -> None:
    response = client.post("/v1/items", json={"item_id": "a"})
    assert response.status_code == 400
    assert "list" in error_of(response)["message"]
    response = client.put("/v1/items/a", json=[1])
    assert response.status_code == 400
    assert "object" in error_of(response)["message"]


def test_users_put_post_get(client: TestClient, engine: Engine) -> None:
    put = client.put("/v1/users/u1", json={"text": "likes jazz", "properties": {"age": 30}})
    assert put.status_code == 200
    assert put.json() == {
        "user_id": "u1", "text": "likes jazz", "properties": {"age": 30},
        "profile": True, "events": 0,
    }  # fmt: skip
    assert client.get("/v1/users/u1").json() == put.json()
    batch = client.post("/v1/users", json=[{"user_id": "u2"}, {"user_id": "u3", "text": "x"}])
    assert batch.json() == {"written": 2}
    assert engine.stats()["user_profiles"] == 3


def test_user_errors(client: TestClient) -> None:
    missing = client.get("/v1/users/ghost")
    assert missing.status_code == 404
    assert error_of(missing) == {
        "code": "unknown_user",
        "message": "no profile or events for user_id 'ghost'",
        "field": "user_id",
    }
    unknown = client.put("/v1/users/u1", json={"age": 3})
    assert unknown.status_code == 400
    assert error_of(unknown)["field"] == "age"
    bad = client.post("/v1/users", json=[{"user_id": ""}])
    assert bad.status_code == 400
    assert error_of(bad)["field"] == "user_id"
    assert client.get("/v1/users/%07").status_code == 400
