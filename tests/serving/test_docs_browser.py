"""``/docs`` and ``/redoc`` in a real headless Chromium: they render with nothing from outside.

Swagger UI used to come from a CDN, a blank page offline. Here the page must draw one
operation block per operation of ``/openapi.json`` (so Swagger UI read the OpenAPI 3.1 that
FastAPI writes), send every request to this server and log no console error. The screenshot
goes to the test's tmp folder, and to ``docs/img/docs.png`` with
``FRESHREC_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from freshrec import Engine
from freshrec.serving import KeyStore, create_app

from .browser import NEEDS_CHROMIUM, chromium, keep_screenshot, serving

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]

COUNT_OPERATIONS = "document.querySelectorAll('.opblock-summary').length"


@pytest.fixture
def server_url() -> Iterator[str]:
    with Engine.open(None, background_training=False) as engine:
        app = create_app(engine, auth=KeyStore(engine.store), close_engine=False)
        with serving(app) as url:
            yield url


def test_swagger_ui_renders_every_operation_offline(server_url: str, tmp_path: Path) -> None:
    spec = httpx.get(f"{server_url}/openapi.json", trust_env=False).json()
    operations = sum(
        1
        for methods in spec["paths"].values()
        for method in methods
        if method in {"get", "put", "post", "patch", "delete"}
    )
    assert operations > 20
    with chromium(tmp_path) as browser:
        page = browser.open_page(width=1280, height=1000)
        browser.call("Page.navigate", page, url=f"{server_url}/docs")
        drawn = browser.wait_until(
            page, f"{COUNT_OPERATIONS} >= {operations} && {COUNT_OPERATIONS}"
        )
        title = browser.evaluate(page, "document.querySelector('.info .title').textContent")
        authorize = browser.evaluate(page, "!!document.querySelector('.btn.authorize')")
        picture = browser.screenshot(page, tmp_path / "docs.png", scale=0.8)

        browser.call("Page.navigate", page, url=f"{server_url}/redoc")
        # ReDoc lists every operation in its side menu.
        menu = "document.querySelectorAll('li[data-item-id^=\"tag/\"] label').length"
        browser.wait_until(page, f"{menu} >= {operations}")
        requested = browser.requested()
        errors = browser.errors()

    assert drawn == operations  # one block per operation, no more
    assert title.startswith("freshrec")
    assert authorize  # the bearer scheme: paste a key, then "Try it out"
    # ReDoc also "requests" inline images (data:) and its worker from a blob of this origin.
    here = (f"{server_url}/", f"blob:{server_url}/", "data:")
    outside = [u for u in requested if not u.startswith(here)]
    assert requested and outside == [], outside
    assert f"{server_url}/docs/assets/swagger-ui-bundle.js" in requested
    assert f"{server_url}/docs/assets/redoc.standalone.js" in requested
    assert errors == []
    assert picture.stat().st_size < 500_000
    keep_screenshot(picture, "docs.png")
