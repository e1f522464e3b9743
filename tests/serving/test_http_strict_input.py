"""Strict input over HTTP: no silent coercion, "required" for what is missing, valid types."""

from __future__ import annotations

from fastapi.testclient import TestClient

from freshrec import Engine

from .serving_helpers import error_of


def test_a_string_where_a_list_belongs_is_a_400_naming_the_field(
    client: TestClient, engine: Engine
) -> None:
    response = client.put("/v1/items/i1", json={"title": "A book", "categories": "books"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["field"] == "categories" and "list of strings" in error["message"]
    batch = client.post("/v1/items", json=[{"item_id": "i2", "categories": "a|b"}])
    assert batch.status_code == 400 and error_of(batch)["field"] == "categories"
    assert engine.stats()["catalogue_items"] == 0  # nothing half written


def test_event_errors_say_required_and_list_the_valid_types(client: TestClient) -> None:
    events = [
        {"item_id": "i1", "type": "click"},
        {"user_id": "u1", "type": "click"},
        {"user_id": "u1", "item_id": "i1"},
        {"user_id": "u1", "item_id": "i1", "type": "teleport"},
    ]
    body = client.post("/v1/events", json=events).json()
    messages = {e["index"]: e["message"] for e in body["errors"]}
    assert messages[0] == "user_id is required"
    assert messages[1] == "item_id is required"
    assert messages[2].startswith("type is required; valid types: ")
    assert "unknown event type 'teleport'; valid types: " in messages[3]
    assert all(kind in messages[3] for kind in ("click", "dislike", "purchase", "view"))
    single = client.post("/v1/events", json={"item_id": "i1", "type": "click"})
    assert single.status_code == 400
    error = error_of(single)
    assert (error["field"], error["message"]) == ("user_id", "event 0: user_id is required")
