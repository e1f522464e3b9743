"""Health, lifecycle, metrics, the dashboard, OpenAPI, and the error shape of unknown routes."""

from __future__ import annotations

import gc
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from freshrec import Engine, EngineConfig
from freshrec.serving import KeyStore, create_app

from .serving_helpers import error_of

ROUTES = {
    ("put", "/v1/items/{item_id}"),
    ("post", "/v1/items"),
    ("get", "/v1/items/{item_id}"),
    ("delete", "/v1/items/{item_id}"),
    ("put", "/v1/users/{user_id}"),
    ("post", "/v1/users"),
    ("get", "/v1/users/{user_id}"),
    ("post", "/v1/events"),
    ("get", "/v1/recommendations/{user_id}"),
    ("get", "/v1/items/{item_id}/similar"),
    ("post", "/v1/rank"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/metrics"),
    ("get", "/dashboard"),
}


def test_ready_only_between_startup_and_shutdown(
    engine: Engine, keystore: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    closes: list[bool] = []
    close = engine.close
    monkeypatch.setattr(engine, "close", lambda: closes.append(True) or close())
    app = create_app(engine, auth=keystore)
    outside = TestClient(app)  # no lifespan: the app never started
    assert outside.get("/health/live").json() == {"status": "live"}
    not_ready = outside.get("/health/ready")
    assert not_ready.status_code == 503
    assert error_of(not_ready)["code"] == "not_ready"
    with TestClient(app) as client:
        assert client.get("/health/ready").json() == {"status": "ready"}
    assert app.state.serving.ready is False
    assert closes == [True]  # shutdown flushed and closed the engine


def test_shutdown_flushes_events_to_disk(tmp_path: Path, engine_config: EngineConfig) -> None:
    data = tmp_path
    engine = Engine.open(data, engine_config)
    with TestClient(create_app(engine, auth=None, open_access=True)) as client:
        event = {"user_id": "u", "item_id": "i", "type": "click", "timestamp": 1_700_000_000}
        assert client.post("/v1/events", json=[event, event]).json()["accepted"] == 2
    with Engine.open(data, engine_config) as reopened:
        assert reopened.stats()["events"] == 2


def test_metrics_count_requests_by_route_template(seeded: TestClient) -> None:
    seeded.get("/v1/recommendations/u1")
    seeded.get("/v1/recommendations/u2")
    seeded.get("/v1/recommendations/u2?n=0")
    seeded.get("/no/such/route")
    response = seeded.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    route = "/v1/recommendations/{user_id:freshrec_id}"
    assert f'freshrec_http_requests_total{{method="GET",route="{route}",status="200"}} 2.0' in text
    assert f'freshrec_http_requests_total{{method="GET",route="{route}",status="422"}} 1.0' in text
    assert 'route="unmatched",status="404"' in text
    assert "freshrec_http_request_duration_seconds_bucket" in text
    assert "freshrec_engine_events 300.0" in text
    assert 'freshrec_model_info{version="online-only"} 1.0' in text
    assert "freshrec_training 0.0" in text  # no retrain running
    assert "freshrec_new_items_waiting 0.0" in text
    # The process's own health: memory and CPU, and garbage-collector pauses.
    assert "process_resident_memory_bytes" in text
    gc.collect()
    gc_text = seeded.get("/metrics").text
    full = r'^freshrec_gc_collections_total\{generation="2"\} (\S+)'
    collections = re.search(full, gc_text, re.M)
    assert collections is not None and float(collections.group(1)) >= 1
    assert 'freshrec_gc_pause_max_seconds{generation="2"}' in gc_text


def test_dashboard(seeded: TestClient) -> None:
    events = [
        {"user_id": "u0", "item_id": "i7", "type": "click", "timestamp": 1_700_000_500 + k}
        for k in range(3)
    ]
    seeded.post("/v1/events", json=events)
    page = seeded.get("/dashboard?user=u0&n=3")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script" not in html
    assert "Live traffic" in html and "events/s" in html
    top = html[html.index("<figure id=top-items") :]
    top = top[: top.index("</figure>")]
    assert "Item 7 (i7)" in top and 'data-value="3"' in top  # the top items chart
    assert "Recommendations for u0" in html
    assert "model_version" in html


def test_dashboard_escapes_what_it_shows(seeded: TestClient) -> None:
    html = seeded.get("/dashboard", params={"user": "<b>x</b>"}).text
    assert "<b>x</b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


def test_openapi_lists_the_contract_routes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    routes = {(method, path) for path, ops in schema["paths"].items() for method in ops}
    assert routes >= ROUTES
    components = schema["components"]["schemas"]
    assert {"EventIn", "ItemIn", "RankIn", "ErrorOut"} <= set(components)
    assert components["EventIn"]["additionalProperties"] is False
    events_body = schema["paths"]["/v1/events"]["post"]["requestBody"]
    assert events_body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EventsIn"
    }


def test_unknown_routes_and_methods_use_the_error_shape(client: TestClient) -> None:
    missing = client.get("/v2/anything")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"
    wrong = client.patch("/v1/events", json={})
    assert wrong.status_code == 405
    assert error_of(wrong)["code"] == "method_not_allowed"
