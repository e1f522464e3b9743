"""POST /v1/events: single events, batches with per-index errors, atomic batches, bad bodies."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from freshrec import Engine

from .serving_helpers import BASE_TIME, error_of


def event(k: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "user_id": "u1",
        "item_id": f"i{k}",
        "type": "click",
        "timestamp": BASE_TIME + k,
        "event_id": f"e{k}",
        **fields,
    }


def test_single_event_is_accepted(client: TestClient, engine: Engine) -> None:
    response = client.post("/v1/events", json=event())
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0, "errors": [], "offset": 1}
    assert engine.stats()["events"] == 1


def test_batch_and_duplicates(client: TestClient, engine: Engine) -> None:
    batch = [event(k) for k in range(5)]
    assert client.post("/v1/events", json=batch).json() == {
        "accepted": 5,
        "duplicates": 0,
        "errors": [],
        "offset": 5,
    }
    again = client.post("/v1/events", json=[*batch[:2], event(9)])
    assert again.json() == {"accepted": 1, "duplicates": 2, "errors": [], "offset": 6}
    assert engine.stats()["events"] == 6


def test_bad_events_are_reported_by_index_and_the_rest_kept(
    client: TestClient, engine: Engine
) -> None:
    batch = [
        event(0),
        event(1, timestamp=time.time() + 10 * 86_400),  # far in the future
        event(2, type="teleport"),
        event(3, colour="red"),
        event(4, user_id=""),
        event(5, item_id="a\x00b"),
        event(6, type="rating"),  # no value
        "not an object",
        event(8),
    ]
    response = client.post("/v1/events", json=batch)
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    errors = {e["index"]: e["message"] for e in body["errors"]}
    assert sorted(errors) == [1, 2, 3, 4, 5, 6, 7]
    assert "timestamp" in errors[1] and "future" in errors[1]
    assert "type" in errors[2]
    assert "colour" in errors[3]
    assert "user_id: must not be empty" in errors[4]
    assert "control characters" in errors[5]
    assert "value" in errors[6]
    assert "object" in errors[7]
    assert engine.history("u1") == ["i0", "i8"]


def test_atomic_batch_rejects_everything(client: TestClient, engine: Engine) -> None:
    batch = [event(0), event(1, timestamp="yesterday"), event(2)]
    response = client.post("/v1/events?atomic=true", json=batch)
    assert response.status_code == 400
    error = error_of(response)
    assert error["field"] == "timestamp"
    assert error["message"].startswith("event 1:")
    assert engine.stats()["events"] == 0


def test_a_single_bad_event_is_a_400(client: TestClient, engine: Engine) -> None:
    response = client.post("/v1/events", json=event(timestamp=time.time() + 90_000))
    assert response.status_code == 400
    assert error_of(response) == {
        "code": "invalid",
        "message": "event 0: is more than a day in the future",
        "field": "timestamp",
    }
    assert engine.stats()["events"] == 0


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{", "malformed JSON"),
        (b'[{"user_id": "u1",]', "malformed JSON"),
        (b"", "empty"),
        (b"\xff\xfe", "UTF-8"),
        (b'{"user_id": NaN}', "NaN"),
        (b'{"value": 1e999}', "out of range"),
        (b"[" * 40 + b"]" * 40, "nested deeper"),
        (b'{"user_id": "\\ud800"}', "surrogate"),
        (b"3", "expected an event object"),
    ],
)
def test_malformed_bodies_are_400(client: TestClient, content: bytes, words: str) -> None:
    response = client.post(
        "/v1/events", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] in {"invalid_json", "invalid"}
    assert words in error["message"]


def test_body_must_be_json(client: TestClient) -> None:
    response = client.post(
        "/v1/events", content=b"user_id=u1", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    assert client.post("/v1/events", content=b"{}").status_code == 415  # no content type


def test_oversized_body_is_413(engine: Engine, keystore: Any, keys: Any) -> None:
    from freshrec.serving import Scope, create_app

    app = create_app(engine, auth=keystore, max_body_bytes=1_000)
    with TestClient(app, headers={"Authorization": f"Bearer {keys[Scope.ADMIN]}"}) as client:
        batch = [event(k) for k in range(100)]
        response = client.post("/v1/events", json=batch)
        assert response.status_code == 413
        assert error_of(response) == {
            "code": "payload_too_large",
            "message": "request body is larger than 1000 bytes",
            "field": None,
        }

        def chunks() -> Any:  # no Content-Length: the limit holds while streaming
            for _ in range(20):
                yield b" " * 100

        streamed = client.post(
            "/v1/events", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert engine.stats()["events"] == 0


def test_atomic_must_be_a_boolean(client: TestClient) -> None:
    response = client.post("/v1/events?atomic=maybe", json=[event()])
    assert response.status_code == 422
    assert error_of(response)["field"] == "atomic"


def test_events_are_counted_in_metrics(client: TestClient) -> None:
    client.post("/v1/events", json=[event(0), event(0), event(1, type="nope")])
    text = client.get("/metrics").text
    assert 'freshrec_events_total{outcome="accepted"} 1.0' in text
    assert 'freshrec_events_total{outcome="duplicate"} 1.0' in text
    assert 'freshrec_events_total{outcome="rejected"} 1.0' in text


def test_a_read_at_the_offset_an_ingest_returned_reflects_it(
    client: TestClient, engine: Engine
) -> None:
    engine.upsert_items([{"item_id": f"i{k}"} for k in range(5)])
    sent = client.post("/v1/events", json=[event(0), event(1)]).json()
    got = client.get(f"/v1/recommendations/u0?at_least={sent['offset']}")
    assert got.status_code == 200
    ahead = client.get(f"/v1/recommendations/u0?at_least={sent['offset'] + 10}")
    assert ahead.status_code == 400 and "at_least" in ahead.text
    assert client.get("/v1/recommendations/u0?at_least=-1").status_code in (400, 422)
