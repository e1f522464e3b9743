"""Each way of not sending a key gets its own 401 message, saying what to send instead."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from freshrec.serving import Scope

from .serving_helpers import error_of

WELL_FORMED_UNKNOWN = "fr_0123456789abcdef_" + "x" * 43


@pytest.fixture
def anonymous(client: TestClient) -> TestClient:
    client.headers.pop("Authorization")
    return client


@pytest.mark.parametrize(
    ("headers", "field", "message"),
    [
        ({}, "Authorization", "missing API key: send `Authorization: Bearer <key>`"),
        (
            {"X-API-Key": "KEY"},
            "X-API-Key",
            "keys go in `Authorization: Bearer <key>`, not X-API-Key",
        ),
        (
            {"Authorization": "KEY"},
            "Authorization",
            "the Authorization header must be `Bearer <key>` "
            "(got the key without the Bearer prefix)",
        ),
        (
            {"Authorization": "Basic dXNlcjpwYXNz"},
            "Authorization",
            "the Authorization header must be `Bearer <key>` "
            "(got a value without the Bearer prefix)",
        ),
        ({"Authorization": "Bearer "}, "Authorization", "has `Bearer` but no key"),
        ({"Authorization": "Bearer nonsense"}, "Authorization", "not a freshrec API key"),
        (
            {"Authorization": f"Bearer {WELL_FORMED_UNKNOWN}"},
            "Authorization",
            "unknown API key",
        ),
    ],
    ids=["none", "x-api-key", "no-bearer", "basic", "bearer-alone", "not-a-key", "unknown"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/recommendations/u1"), ("POST", "/v1/events"), ("GET", "/dashboard")],
)
def test_each_mistake_has_its_message(
    anonymous: TestClient,
    keys: dict[Scope, str],
    headers: dict[str, str],
    field: str,
    message: str,
    method: str,
    path: str,
) -> None:
    real = {k: v.replace("KEY", keys[Scope.ADMIN]) for k, v in headers.items()}
    response = anonymous.request(method, path, headers=real, json=[])
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    error = error_of(response)
    assert error["code"] == "unauthorized"
    assert error["field"] == field
    assert message in error["message"]
    # The key (a real admin key in two cases) is never echoed back.
    assert keys[Scope.ADMIN] not in response.text
    assert keys[Scope.ADMIN].split("_", 2)[2] not in response.text


def test_the_messages_differ(anonymous: TestClient, keys: dict[Scope, str]) -> None:
    key = keys[Scope.ADMIN]
    tries = [
        {},
        {"X-API-Key": key},
        {"Authorization": key},
        {"Authorization": f"Bearer {WELL_FORMED_UNKNOWN}"},
    ]
    messages = {error_of(anonymous.get("/v1/items/i1", headers=h))["message"] for h in tries}
    assert len(messages) == len(tries)


def test_a_right_key_beside_an_x_api_key_header_is_let_through(
    anonymous: TestClient, keys: dict[Scope, str]
) -> None:
    headers = {"Authorization": f"Bearer {keys[Scope.READ]}", "X-API-Key": "ignored"}
    assert anonymous.get("/v1/recommendations/u1", headers=headers).status_code == 200
    assert (
        anonymous.get(
            "/v1/recommendations/u1", headers={"Authorization": f"bearer {keys[Scope.READ]}"}
        ).status_code
        == 200
    )
