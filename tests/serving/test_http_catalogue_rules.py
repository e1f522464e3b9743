"""Only the catalogue creates recommendable items: events cannot inject one (DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from freshrec import Engine
from freshrec.config import EngineConfig
from freshrec.serving import Scope

from .serving_helpers import BASE_TIME, bearer, catalogue


def spam(n_users: int) -> list[dict[str, object]]:
    """Many clicks on an item id no upsert created, as a hostile web page could send."""
    return [
        {"user_id": f"bot{k}", "item_id": "spam", "type": "purchase", "timestamp": BASE_TIME + k}
        for k in range(n_users)
    ]


def answered(client: TestClient, user_id: str) -> list[str]:
    body = client.get(f"/v1/recommendations/{user_id}?n=30").json()
    return [item["item_id"] for item in body["items"]]


def test_events_on_an_unknown_item_never_make_it_recommendable(
    client: TestClient, engine: Engine, keys: dict[Scope, str]
) -> None:
    engine.upsert_items(catalogue(5))
    engine.ingest(
        [
            {"user_id": "u0", "item_id": "i1", "type": "click", "timestamp": BASE_TIME},
            {"user_id": "u0", "item_id": "i2", "type": "click", "timestamp": BASE_TIME + 1},
        ]
    )
    sent = client.post("/v1/events", json=spam(50), headers=bearer(keys[Scope.INGEST]))
    assert sent.status_code == 202 and sent.json()["accepted"] == 50  # kept in the log
    assert engine.stats()["events"] == 52
    assert "spam" not in answered(client, "newcomer")  # trending for a new user
    assert answered(client, "newcomer")[:2] in (["i1", "i2"], ["i2", "i1"])
    assert "spam" not in answered(client, "bot0")
    assert "spam" not in [r.item_id for r in engine.similar("i1", n=10)]

    listing = client.get("/v1/catalogue/unlisted")
    assert listing.status_code == 200
    assert listing.json() == {"total": 1, "items": [{"item_id": "spam", "events": 50}]}
    refused = client.get("/v1/catalogue/unlisted", headers=bearer(keys[Scope.READ]))
    assert refused.status_code == 403

    # The catalogue creates it, explicitly: then its evidence counts.
    assert client.put("/v1/items/spam", json={"title": "Now for sale"}).status_code == 200
    assert answered(client, "newcomer")[0] == "spam"
    assert client.get("/v1/catalogue/unlisted").json() == {"total": 0, "items": []}


def test_an_admin_can_hide_an_item_known_only_from_events(
    client: TestClient, engine: Engine
) -> None:
    engine.upsert_items(catalogue(3))
    engine.ingest(spam(5))
    hidden = client.delete("/v1/items/spam")
    assert hidden.status_code == 200
    assert hidden.json()["item_id"] == "spam" and hidden.json()["available"] is False
    assert client.get("/v1/items/spam").json()["available"] is False
    engine.ingest(spam(8)[5:])  # more events on a hidden item: still never shown
    assert "spam" not in answered(client, "newcomer")
    assert client.get("/v1/catalogue/unlisted").json()["total"] == 0
    assert client.delete("/v1/items/never-met").status_code == 404


def test_the_rule_survives_a_restart(tmp_path: Path, engine_config: EngineConfig) -> None:
    with Engine.open(tmp_path / "data", engine_config) as first:
        first.upsert_items(catalogue(3))
        first.ingest(spam(20))
    with Engine.open(tmp_path / "data", engine_config) as again:
        assert "spam" not in [r.item_id for r in again.recommend("newcomer", n=10)]
        assert again.unlisted_items() == [("spam", 20)]
