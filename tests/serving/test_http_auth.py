"""API keys: each scope's refusals, 401 without a key, hashed storage, open access."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from freshrec import Engine
from freshrec.serving import KeyStore, Scope, create_app
from freshrec.serving.auth import BLOB_NAME
from freshrec.store import MemoryStore

from .serving_helpers import bearer, error_of

EVENT = {"user_id": "u1", "item_id": "i1", "type": "click", "timestamp": 1_700_000_000}
READS = [
    ("GET", "/v1/recommendations/u1"),
    ("GET", "/v1/items/i1"),
    ("GET", "/v1/items/i1/similar"),
    ("GET", "/v1/users/u1"),
    ("GET", "/metrics"),
    ("GET", "/dashboard"),
]
ADMIN_WRITES = [
    ("PUT", "/v1/items/i1", {"title": "x"}),
    ("POST", "/v1/items", [{"item_id": "i2"}]),
    ("DELETE", "/v1/items/i1", None),
    ("PUT", "/v1/users/u1", {}),
    ("POST", "/v1/users", [{"user_id": "u2"}]),
]


@pytest.fixture
def anonymous(client: TestClient) -> TestClient:
    client.headers.pop("Authorization")
    return client


def test_no_key_is_401_everywhere_but_health(anonymous: TestClient) -> None:
    for method, path in [*READS, ("POST", "/v1/events"), ("POST", "/v1/rank")]:
        response = anonymous.request(method, path, json=EVENT)
        assert response.status_code == 401, path
        assert error_of(response)["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert anonymous.get("/health/live").status_code == 200
    assert anonymous.get("/health/ready").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Bearer fr_0123456789abcdef_" + "x" * 43, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer"],
)
def test_unknown_or_malformed_keys_are_401(anonymous: TestClient, header: str) -> None:
    response = anonymous.get("/v1/recommendations/u1", headers={"Authorization": header})
    assert response.status_code == 401


def test_a_tampered_secret_is_refused(anonymous: TestClient, keys: dict[Scope, str]) -> None:
    key = keys[Scope.ADMIN]
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert anonymous.get("/v1/items/i1", headers=bearer(tampered)).status_code == 401


def test_ingest_key_can_only_send_events(
    seeded: TestClient, keys: dict[Scope, str], engine: Engine
) -> None:
    headers = bearer(keys[Scope.INGEST])
    assert seeded.post("/v1/events", json=EVENT, headers=headers).status_code == 202
    for method, path in READS:
        response = seeded.request(method, path, headers=headers)
        assert response.status_code == 403, path
        error = error_of(response)
        assert error["code"] == "forbidden"
        assert "'ingest'" in error["message"]
    rank = seeded.post("/v1/rank", json={"user_id": "u1", "item_ids": []}, headers=headers)
    assert rank.status_code == 403
    before = engine.stats()
    for method, path, body in ADMIN_WRITES:
        assert seeded.request(method, path, json=body, headers=headers).status_code == 403
    assert engine.stats() == before


def test_read_key_reads_but_never_writes(
    seeded: TestClient, keys: dict[Scope, str], engine: Engine
) -> None:
    headers = bearer(keys[Scope.READ])
    seeded.put("/v1/users/u1", json={})  # admin, so the user read below finds a profile
    for method, path in READS:
        assert seeded.request(method, path, headers=headers).status_code == 200, path
    rank = seeded.post("/v1/rank", json={"user_id": "u1", "item_ids": ["i1"]}, headers=headers)
    assert rank.status_code == 200
    before = engine.stats()
    response = seeded.post("/v1/events", json=EVENT, headers=headers)
    assert response.status_code == 403
    assert "admin or ingest" in error_of(response)["message"]
    for method, path, body in ADMIN_WRITES:
        assert seeded.request(method, path, json=body, headers=headers).status_code == 403
    assert engine.stats() == before


def test_admin_key_does_everything(seeded: TestClient) -> None:
    for method, path, body in ADMIN_WRITES:
        assert seeded.request(method, path, json=body).status_code == 200, path
    for method, path in READS:
        assert seeded.request(method, path).status_code == 200, path
    assert seeded.post("/v1/events", json=EVENT).status_code == 202


def test_keys_are_stored_hashed(engine: Engine, keys: dict[Scope, str]) -> None:
    blob = engine.store.get_blob(BLOB_NAME)
    assert blob is not None
    text = blob.decode()
    stored = json.loads(text)["keys"]
    assert sorted(entry["scope"] for entry in stored) == ["admin", "ingest", "read"]
    for key in keys.values():
        _, key_id, secret = key.split("_", 2)
        assert secret not in text
        assert key not in text
        assert key_id in text


def test_keys_survive_a_reload_and_new_keys_are_seen() -> None:
    store = MemoryStore()
    server_side = KeyStore(store, reload_interval_seconds=0.0)
    throttled = KeyStore(store)
    key = KeyStore(store).create("ingest")  # made by another process, say
    assert server_side.authenticate(key) == Scope.INGEST  # unknown id: re-read the blob
    assert throttled.authenticate(key) is None  # re-reads at most once a second
    assert KeyStore(store).authenticate(key) == Scope.INGEST
    with pytest.raises(ValueError):
        server_side.create("superuser")


def test_open_access_needs_no_key_and_warns(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING),
        TestClient(create_app(engine, auth=None, open_access=True)) as client,
    ):
        assert client.get("/v1/recommendations/u1").status_code == 200
        assert client.post("/v1/events", json=EVENT).status_code == 202
        assert "Open access" in client.get("/dashboard").text
    assert "OPEN ACCESS" in caplog.text


def test_no_keystore_without_open_access_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="KeyStore"):
        create_app(engine, auth=None)
