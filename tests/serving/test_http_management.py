"""Managing the catalogue and users through a real keyed server process.

PATCH of items and users, cursor listing of the catalogue while it changes, what is known of a
user, their events, forgetting them, answers for many users in one call, and the query rules
(unknown parameters refused, ``category`` repeatable).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from freshrec import Engine
from freshrec.engine import DB_FILE, MEASUREMENT_FILE
from freshrec.serving.auth import Scope

from .real_server import RealServer, real_server

T0 = 1_700_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    with real_server(tmp_path_factory.mktemp("management") / "data") as running:
        yield running


@pytest.fixture
def admin(server: RealServer) -> Iterator[httpx.Client]:
    with server.client(Scope.ADMIN) as client:
        yield client


def _error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def _scored(response: httpx.Response) -> list[tuple[str, float]]:
    return [(item["item_id"], item["score"]) for item in response.json()["items"]]


def _click(user: str, item: str, k: int) -> dict[str, Any]:
    return {"user_id": user, "item_id": item, "type": "click", "timestamp": T0 + k}


def test_patch_changes_only_the_given_fields_of_an_item(admin: httpx.Client) -> None:
    full = {
        "title": "Blue kettle",
        "text": "Boils fast.",
        "categories": ["kitchen"],
        "properties": {"colour": "blue", "price": 30},
    }
    admin.put("/v1/items/p-kettle", json=full).raise_for_status()
    assert admin.delete("/v1/items/p-kettle").json()["available"] is False
    back = admin.patch("/v1/items/p-kettle", json={"available": True})
    assert back.status_code == 200
    assert {k: back.json()[k] for k in full} == full  # un-hiding wiped nothing
    merged = admin.patch(
        "/v1/items/p-kettle", json={"title": "Red kettle", "properties": {"colour": None}}
    ).json()
    assert (merged["title"], merged["text"], merged["properties"]) == (
        "Red kettle", "Boils fast.", {"price": 30},
    )  # fmt: skip
    assert admin.get("/v1/items/p-kettle").json() == merged

    unknown = admin.patch("/v1/items/p-never", json={"title": "x"})
    assert (unknown.status_code, _error(unknown)["field"]) == (404, "item_id")
    renamed = admin.patch("/v1/items/p-kettle", json={"item_id": "other"})
    assert (renamed.status_code, _error(renamed)["field"]) == (400, "item_id")
    bad = admin.patch("/v1/items/p-kettle", json={"title": 5})
    assert (bad.status_code, _error(bad)["field"]) == (400, "title")
    assert admin.get("/v1/items/p-kettle").json() == merged  # a refused patch changed nothing
    not_object = admin.patch("/v1/items/p-kettle", json=["title"])
    assert not_object.status_code == 400


def test_patch_of_an_item_needs_an_admin_key(server: RealServer) -> None:
    with server.client(Scope.READ) as reader:
        refused = reader.patch("/v1/items/p-kettle", json={"title": "x"})
    assert refused.status_code == 403


def test_patch_changes_only_the_given_fields_of_a_user(admin: httpx.Client) -> None:
    admin.put(
        "/v1/users/pu1", json={"properties": {"plan": "gold", "city": "Lyon"}, "text": "jazz"}
    ).raise_for_status()
    patched = admin.patch("/v1/users/pu1", json={"properties": {"city": "Oslo"}}).json()
    assert patched["properties"] == {"plan": "gold", "city": "Oslo"}
    assert (patched["text"], patched["profile"]) == ("jazz", True)
    unknown = admin.patch("/v1/users/pu-nobody", json={"text": "x"})
    assert (unknown.status_code, _error(unknown)["field"]) == (404, "user_id")
    # A user known only from events gets a profile from the patch.
    admin.put("/v1/items/p-a", json={}).raise_for_status()
    admin.post("/v1/events", json=_click("pu2", "p-a", 1)).raise_for_status()
    made = admin.patch("/v1/users/pu2", json={"properties": {"plan": "free"}}).json()
    assert (made["properties"], made["profile"], made["events"]) == ({"plan": "free"}, True, 1)


def test_a_user_known_only_from_events_is_answered_with_what_is_known(
    admin: httpx.Client,
) -> None:
    admin.post("/v1/items", json=[{"item_id": f"k{k}"} for k in range(3)]).raise_for_status()
    events = [_click("ku1", f"k{k % 3}", k) for k in range(100)]
    assert admin.post("/v1/events", json=events).json()["accepted"] == 100
    known = admin.get("/v1/users/ku1")
    assert known.status_code == 200
    assert known.json() == {
        "user_id": "ku1", "properties": {}, "text": "", "profile": False, "events": 100,
    }  # fmt: skip
    nobody = admin.get("/v1/users/ku-nobody")
    assert (nobody.status_code, _error(nobody)["field"]) == (404, "user_id")

    newest = admin.get("/v1/users/ku1/events", params={"limit": 5}).json()
    assert [e["timestamp"] for e in newest["events"]] == [T0 + k for k in range(99, 94, -1)]
    assert [e["item_id"] for e in newest["events"]] == [f"k{k % 3}" for k in range(99, 94, -1)]
    offsets = [e["offset"] for e in newest["events"]]
    assert offsets == sorted(offsets, reverse=True)
    assert admin.get("/v1/users/ku-nobody/events").json() == {"user_id": "ku-nobody", "events": []}
    too_many = admin.get("/v1/users/ku1/events", params={"limit": 100_000})
    assert too_many.status_code == 422


def test_listing_pages_through_every_item_once_while_items_are_upserted(
    admin: httpx.Client, server: RealServer
) -> None:
    listed = [{"item_id": f"L{k:05d}", "title": f"item {k}"} for k in range(3_000)]
    for start in range(0, len(listed), 1_000):
        admin.post("/v1/items", json=listed[start : start + 1_000]).raise_for_status()
    stop = threading.Event()

    def upsert_meanwhile() -> None:  # new ids before, between and after, and rewrites
        with server.client(Scope.ADMIN) as writer:
            k = 0
            while not stop.is_set():
                batch = [
                    {"item_id": f"L{k % 3_000:05d}", "title": f"rewritten {k}"},
                    {"item_id": f"L{k % 3_000:05d}-new{k}"},
                    {"item_id": f"A-new{k}"},
                ]
                writer.post("/v1/items", json=batch).raise_for_status()
                k += 1

    writer = threading.Thread(target=upsert_meanwhile)
    writer.start()
    seen: list[str] = []
    cursor: str | None = None
    try:
        while True:
            params: dict[str, Any] = {"limit": 250}
            if cursor is not None:
                params["cursor"] = cursor
            page = admin.get("/v1/items", params=params).json()
            seen += [item["item_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        writer.join()
    assert len(seen) == len(set(seen)), "an item was listed twice"
    assert seen == sorted(seen)
    assert {item["item_id"] for item in listed} <= set(seen), "an item was skipped"


def test_listing_filters_by_availability_and_refuses_a_bad_cursor(admin: httpx.Client) -> None:
    admin.post("/v1/items", json=[{"item_id": f"V{k}"} for k in range(4)]).raise_for_status()
    admin.delete("/v1/items/V1").raise_for_status()
    hidden: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"available": "false", "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = admin.get("/v1/items", params=params).json()
        hidden += [item["item_id"] for item in page["items"]]
        assert all(item["available"] is False for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert "V1" in hidden and "V0" not in hidden
    bad = admin.get("/v1/items", params={"cursor": "not-a-cursor"})
    assert (bad.status_code, _error(bad)["field"]) == (400, "cursor")


def test_unknown_query_parameters_are_refused_and_category_may_repeat(
    admin: httpx.Client,
) -> None:
    admin.post(
        "/v1/items",
        json=[
            {"item_id": "c-pet", "categories": ["pets"]},
            {"item_id": "c-toy", "categories": ["toys"]},
            {"item_id": "c-food", "categories": ["food"]},
        ],
    ).raise_for_status()
    clicks = [_click("cu0", item, k) for k, item in enumerate(("c-pet", "c-toy", "c-food"))]
    admin.post("/v1/events", json=clicks).raise_for_status()
    typo = admin.get("/v1/recommendations/cu1", params={"categories": "pets"})
    assert typo.status_code == 400
    assert _error(typo)["field"] == "categories"
    assert "category" in _error(typo)["message"]  # it lists what the route takes
    for route in ("/v1/items", "/v1/items/c-pet/similar", "/health/ready", "/v1/users/cu1"):
        assert admin.get(route, params={"bogus": "1"}).status_code == 400, route
    both = admin.get(
        "/v1/recommendations/cu1", params=[("category", "pets"), ("category", "toys"), ("n", 50)]
    ).json()
    assert {item["item_id"] for item in both["items"]} == {"c-pet", "c-toy"}
    # exclude: comma-separated, repeated, or both.
    left = admin.get(
        "/v1/recommendations/cu1",
        params=[("exclude", "c-pet,c-toy"), ("exclude", "c-food"), ("n", 50)],
    ).json()
    assert not {"c-pet", "c-toy", "c-food"} & {item["item_id"] for item in left["items"]}


def test_many_users_are_answered_in_one_call(admin: httpx.Client) -> None:
    admin.post("/v1/items", json=[{"item_id": f"b{k}"} for k in range(6)]).raise_for_status()
    admin.post(
        "/v1/events", json=[_click("bu1", "b1", 1), _click("bu1", "b2", 2), _click("bu2", "b1", 3)]
    ).raise_for_status()
    users = ["bu2", "bu1", "b-new"]
    batch = admin.post("/v1/recommendations", json={"user_ids": users, "n": 3})
    assert batch.status_code == 200
    results = batch.json()["results"]
    assert [r["user_id"] for r in results] == users
    assert len({r["recommendation_id"] for r in results}) == 3
    for result in results:
        alone = admin.get(f"/v1/recommendations/{result['user_id']}", params={"n": 3}).json()
        assert [i["item_id"] for i in result["items"]] == [i["item_id"] for i in alone["items"]]
        assert result["scenario"] == "home" and "model_version" in result
    assert "b2" in [i["item_id"] for i in results[0]["items"]]  # bu2 follows bu1 from b1

    for body, field in [
        ({"user_ids": []}, "user_ids"),
        ({"user_ids": ["ok", ""]}, "user_ids"),
        ({"user_ids": [f"u{k}" for k in range(101)]}, "user_ids"),
        ({"user_ids": ["ok"], "n": 0}, "n"),
        ({"user_ids": ["ok"], "scenario": "nope"}, "scenario"),
        ({"user_ids": ["ok"], "users": ["x"]}, "users"),
    ]:
        refused = admin.post("/v1/recommendations", json=body)
        assert (refused.status_code, _error(refused)["field"]) == (400, field), body


def test_forgetting_a_user_leaves_no_trace_in_the_log_or_the_answers(
    tmp_path: Path,
) -> None:
    with real_server(tmp_path / "data") as server, server.client() as admin:
        admin.post("/v1/items", json=[{"item_id": f"f{k}"} for k in range(8)]).raise_for_status()
        admin.put("/v1/users/victim", json={"properties": {"email": "v@example.org"}})
        events = [_click("victim", f"f{k}", k) for k in range(5)]
        events += [_click("other", "f0", 10), _click("other", "f1", 11)]
        events.append({**_click("victim", "f6", 12), "event_id": "victim-secret-1"})
        admin.post("/v1/events", json=events).raise_for_status()
        served = admin.get("/v1/recommendations/victim").json()
        newcomer = _scored(admin.get("/v1/recommendations/nobody"))

        receipt = admin.delete("/v1/users/victim")
        assert receipt.status_code == 200
        assert receipt.json() == {"user_id": "victim", "profile": True, "events": 6, "lists": 1}
        assert admin.get("/v1/users/victim").status_code == 404
        assert admin.get("/v1/users/victim/events").json()["events"] == []
        after = _scored(admin.get("/v1/recommendations/victim"))
        now_new = _scored(admin.get("/v1/recommendations/nobody"))
        assert after == now_new  # the victim is a new user now
        assert newcomer != now_new  # their clicks had made f0..f6 trending for newcomers
        again = admin.delete("/v1/users/victim").json()
        # Only the answer served since: asking for recommendations is a new interaction.
        assert again == {"user_id": "victim", "profile": False, "events": 0, "lists": 1}
        with server.client(Scope.READ) as reader:
            assert reader.delete("/v1/users/other").status_code == 403
        offset = admin.post("/v1/events", json=_click("other", "f2", 20)).json()["offset"]
        assert offset == len(events) + 1  # offsets did not move

    # The files hold nothing of the victim: no row, no event id, no served list.
    with sqlite3.connect(tmp_path / "data" / DB_FILE) as db:
        dump = "\n".join(db.iterdump())
    assert "victim" not in dump
    with sqlite3.connect(tmp_path / "data" / MEASUREMENT_FILE) as db:
        lists = "\n".join(db.iterdump())
    assert "victim" not in lists and served["recommendation_id"] not in lists

    # A restart rebuilds without them, and the offsets hold.
    with real_server(tmp_path / "data") as server, server.client() as admin:
        assert admin.get("/v1/users/victim").status_code == 404
        assert admin.get("/v1/users/other").json()["events"] == 3
        assert admin.post("/v1/events", json=_click("other", "f3", 21)).json()["offset"] == (
            len(events) + 2
        )


def test_writes_are_refused_at_once_while_a_user_is_forgotten(
    client: TestClient, engine: Engine
) -> None:
    client.put("/v1/items/w1", json={}).raise_for_status()
    engine.forgetting = True  # what forget_user sets while it rebuilds the state
    try:
        for method, path, body in [
            ("POST", "/v1/events", {"user_id": "u", "item_id": "w1", "type": "click"}),
            ("PUT", "/v1/items/w2", {}),
            ("PATCH", "/v1/items/w1", {"title": "x"}),
            ("PUT", "/v1/users/u", {}),
            ("DELETE", "/v1/users/u", None),
        ]:
            refused = client.request(method, path, json=body)
            assert refused.status_code == 503, (method, path)
            assert refused.json()["error"]["code"] == "busy"
            assert refused.headers["Retry-After"]
        assert client.get("/v1/items/w1").status_code == 200  # reads go on
        assert client.get("/v1/recommendations/u").status_code == 200
    finally:
        engine.forgetting = False
    accepted = client.post("/v1/events", json={"user_id": "u", "item_id": "w1", "type": "click"})
    assert accepted.json()["accepted"] == 1
