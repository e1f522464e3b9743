"""CORS through the app factory: preflights from allowed and other origins, and the settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from freshrec import Engine
from freshrec.cli import app as cli_app
from freshrec.config import EngineConfig
from freshrec.errors import ValidationError
from freshrec.serving import KeyStore, Scope, create_app
from freshrec.serving.cli_serve import register

from .serving_helpers import bearer, error_of

SHOP = "https://shop.example"
OTHER = "https://elsewhere.example"
EVENT = {"user_id": "u1", "item_id": "i1", "type": "click", "timestamp": 1_700_000_000}
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


def cors_headers(response: object) -> dict[str, str]:
    headers = response.headers  # type: ignore[attr-defined]
    return {k: v for k, v in headers.items() if k.lower().startswith("access-control-")}


@pytest.fixture
def shop_client(engine: Engine, keystore: KeyStore) -> Iterator[TestClient]:
    """A keyed server that lets pages from SHOP call it (no key sent by default)."""
    with TestClient(create_app(engine, auth=keystore, cors_origins=[SHOP])) as client:
        yield client


def test_a_preflight_from_an_allowed_origin_allows_the_key_and_json(
    shop_client: TestClient,
) -> None:
    response = shop_client.options("/v1/events", headers={**PREFLIGHT, "Origin": SHOP})
    assert response.status_code == 200  # 405 before CORS
    headers = cors_headers(response)
    assert headers["access-control-allow-origin"] == SHOP  # the origin itself, not "*"
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in headers["access-control-allow-methods"].split(", ")
    assert int(headers["access-control-max-age"]) > 0
    assert "access-control-allow-credentials" not in headers  # keys travel in a header
    assert "Origin" in response.headers["vary"]


def test_an_allowed_page_reads_the_answer_and_the_refusal(
    shop_client: TestClient, keys: dict[Scope, str], engine: Engine
) -> None:
    sent = shop_client.post(
        "/v1/events", json=[EVENT], headers={**bearer(keys[Scope.INGEST]), "Origin": SHOP}
    )
    assert sent.status_code == 202 and sent.json()["accepted"] == 1
    assert sent.headers["access-control-allow-origin"] == SHOP
    assert engine.stats()["events"] == 1
    # A refusal carries the header too, so the page's script can read why.
    refused = shop_client.post("/v1/events", json=[EVENT], headers={"Origin": SHOP})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == SHOP


def test_another_origin_gets_no_allow_header_and_a_json_reason(shop_client: TestClient) -> None:
    response = shop_client.options("/v1/events", headers={**PREFLIGHT, "Origin": OTHER})
    assert response.status_code == 400
    assert cors_headers(response) == {}
    error = error_of(response)
    assert error["code"] == "cors_refused" and error["field"] == "Origin"
    assert OTHER in error["message"] and SHOP in error["message"]
    assert f"--cors-origin {OTHER}" in error["message"]
    # The call itself (a browser would not send it) is answered without the header.
    plain = shop_client.post("/v1/events", json=[EVENT], headers={"Origin": OTHER})
    assert "access-control-allow-origin" not in plain.headers


@pytest.mark.parametrize(
    ("asked", "field", "named"),
    [
        ({"Access-Control-Request-Method": "TRACE"}, "Access-Control-Request-Method", "TRACE"),
        (
            {
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-api-key",
            },
            "Access-Control-Request-Headers",
            "x-api-key",
        ),
    ],
)
def test_a_preflight_for_another_method_or_header_is_refused(
    shop_client: TestClient, asked: dict[str, str], field: str, named: str
) -> None:
    response = shop_client.options("/v1/events", headers={**asked, "Origin": SHOP})
    assert response.status_code == 400
    assert cors_headers(response) == {}
    error = error_of(response)
    assert error["field"] == field and named in error["message"]


def test_without_origins_every_preflight_is_refused_saying_how_to_allow(
    client: TestClient,
) -> None:
    response = client.options("/v1/events", headers={**PREFLIGHT, "Origin": SHOP})
    assert response.status_code == 400
    assert "allowed origins: none" in error_of(response)["message"]
    assert cors_headers(response) == {}


def test_the_setting_and_the_argument_add_up(keystore: KeyStore) -> None:
    config = EngineConfig.from_dict({"serving": {"cors_origins": [OTHER]}})
    with Engine.open(None, config) as engine:
        app = create_app(
            engine, auth=KeyStore(engine.store), cors_origins=[SHOP], close_engine=False
        )
        with TestClient(app) as client:
            for origin in (SHOP, OTHER):
                answer = client.options("/v1/events", headers={**PREFLIGHT, "Origin": origin})
                assert answer.headers["access-control-allow-origin"] == origin
            third = client.options(
                "/v1/events", headers={**PREFLIGHT, "Origin": "https://third.example"}
            )
            assert third.status_code == 400


@pytest.mark.parametrize(
    "origin", [f"{SHOP}/", f"{SHOP}/page", "shop.example", "ftp://shop.example", "*", ""]
)
def test_a_setting_that_is_not_an_origin_is_refused(origin: str) -> None:
    with pytest.raises(ValidationError, match=r"serving\.cors_origins") as caught:
        EngineConfig.from_dict({"serving": {"cors_origins": [origin]}})
    assert "scheme://host[:port]" in str(caught.value)


def test_origins_are_kept_as_browsers_send_them() -> None:
    config = EngineConfig.from_dict(
        {"serving": {"cors_origins": ["HTTPS://Shop.Example", "http://127.0.0.1:8080", SHOP]}}
    )
    assert config.serving.cors_origins == (SHOP, "http://127.0.0.1:8080")


def test_serve_refuses_a_bad_cors_origin_before_loading(tmp_path: Path) -> None:
    register(cli_app)
    cli: typer.Typer = cli_app
    data = tmp_path / "data"
    arguments = ["serve", "--data", str(data), "--open", "--cors-origin", SHOP]
    result = CliRunner().invoke(cli, [*arguments, "--cors-origin", f"{SHOP}/"])
    assert result.exit_code == 2, result.output
    assert "not a web origin" in result.output and "trailing slash" in result.output
    assert not data.exists()  # refused before the engine opened (and created) it
