"""``/docs`` and ``/redoc`` name only this server's files, and every one of them is served."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from freshrec.serving.docs_page import ASSETS

CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize(
    ("path", "assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon.png"}),
    ],
)
def test_the_page_loads_only_files_this_server_serves(
    client: TestClient, path: str, assets: set[str]
) -> None:
    anonymous = client.get(path, headers={"Authorization": ""})  # open, like /openapi.json
    assert anonymous.status_code == 200
    page = anonymous.text
    assert not re.findall(r"https?://", page), "no CDN, no font service"
    named = set(re.findall(r'(?:src|href)="([^"]+)"', page))
    assert named == {f"{ASSETS}/{name}" for name in assets}
    assert "'/openapi.json'" in page or '"/openapi.json"' in page
    for url in named:
        served = client.get(url)
        assert served.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert CONTENT_TYPES[suffix] in served.headers["content-type"], url
        assert len(served.content) > 1_000, url


def test_swagger_ui_is_told_not_to_call_the_online_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


def test_the_pages_are_not_api_operations(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {p for p in paths if p.startswith(("/docs", "/redoc"))}
    assert client.get(f"{ASSETS}/nothing.js").status_code == 404
