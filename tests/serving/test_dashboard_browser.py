"""The dashboard in a real headless Chromium, against a real keyed server with simulated traffic.

Chromium (Debian's ``chromium``; ``make test`` installs it where it can) is driven over the
DevTools protocol on a pipe (``--remote-debugging-pipe``, ``browser.DevTools``), so no driver
package is needed.
The test loads ``/dashboard`` with a read key, then checks: no console error, no request to
any other origin, the charts' DOM holds the numbers the API returns, and the charts are laid
out. The screenshot goes to the test's tmp folder, and to ``docs/img/dashboard.png`` with
``FRESHREC_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from freshrec import Engine
from freshrec.config import EngineConfig
from freshrec.serving import KeyStore, Scope, create_app
from freshrec.simulate import ShopConfig, SyntheticShop
from freshrec.simulate.live import LiveShoppers

from .browser import CHROMIUM, DevTools, serving

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "dashboard.png"
WIDTH = 1280
SCALE = 0.85
# The page's own scripts: none. This reads what the charts hold, per chart id.
READ_CHARTS = """JSON.stringify(Object.fromEntries([...document.querySelectorAll('figure[id]')]
  .map(f => [f.id, {
    values: [...f.querySelectorAll('[data-value]')].map(n => n.getAttribute('data-value')),
    lows: [...f.querySelectorAll('[data-low]')].map(n => n.getAttribute('data-low')),
    width: f.querySelector('svg') ? f.querySelector('svg').getBoundingClientRect().width : 0,
    text: f.textContent}])))"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (make test installs Debian's chromium as root)",
    ),
]


def simulate(engine: Engine, activity: Any, now: float) -> None:
    """Thirty minutes of a synthetic shop's shoppers before ``now``, and an A/B experiment.

    Answers are served at their simulated times (so they fill the measurement buckets) and
    the shoppers' events, attributed by recommendation id, are counted in the server's
    activity at their times, as if they had come through ``POST /v1/events``.
    """
    shop = SyntheticShop(ShopConfig(n_users=300, n_items=200, n_events=6_000, seed=2))
    engine.upsert_items(shop.items())
    engine.upsert_users(shop.users())
    engine.ingest(list(shop.events()))
    engine.train()
    trending = {"blend": {"covisitation": 0, "factors": 0, "trending": 1}}
    variants = [{"name": "control", "settings": {}}, {"name": "trending", "settings": trending}]
    engine.measurement.put_experiment("e1", {"scenario": "home", "variants": variants})
    shoppers = LiveShoppers(shop, seed=1)
    for k in range(600):
        if k == 400:
            engine.train()  # a new model version takes over for the last ten minutes
        at = now - 1_800 + 3 * k
        user = shoppers.pick_user()
        answer = engine.serve(user, n=10, scenario="home" if k % 4 else "new_user", at=at)
        shown = [r.item_id for r in answer.items]
        events = shoppers.session(user, shown, answer.recommendation_id)
        engine.ingest([{**event, "timestamp": int(at) + 1} for event in events])
        if at > now - 300:
            activity.record((event["item_id"] for event in events), now=at + 1)


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[tuple[str, KeyStore, Engine]]:
    """A keyed server on a free port with simulated traffic; yields (url, keys, engine)."""
    config = EngineConfig.from_dict({"training": {"retrain_every_events": 0}})
    engine = Engine.open(None, config, background_training=False)
    keys = KeyStore(engine.store)
    app = create_app(engine, auth=keys)
    simulate(engine, app.state.serving.activity, time.time())
    with serving(app) as url:
        yield url, keys, engine


def live_traffic(api: httpx.Client, ingest_key: str, sessions: int) -> None:
    """Shoppers u0.. ask for answers and click their first item, through the HTTP API."""
    ingest = {"Authorization": f"Bearer {ingest_key}"}
    for k in range(sessions):
        user = f"u{k}"
        answer = api.get(f"/v1/recommendations/{user}", params={"n": 10}).json()
        events = [
            {"user_id": user, "item_id": item["item_id"], "type": kind}
            | {"recommendation_id": answer["recommendation_id"]}
            for item, kind in zip(answer["items"][:3], ("click", "view", "cart"), strict=True)
        ]
        assert api.post("/v1/events", json=events, headers=ingest).status_code == 202


def test_the_dashboard_in_chromium(
    keyed_server: tuple[str, KeyStore, Engine], tmp_path: Path
) -> None:
    url, keys, _ = keyed_server
    headers = {"Authorization": f"Bearer {keys.create(Scope.READ)}"}
    with httpx.Client(base_url=url, headers=headers, trust_env=False, timeout=10) as api:
        live_traffic(api, keys.create(Scope.INGEST), 30)
        assert api.get("/dashboard").status_code == 200
        groups = api.get("/v1/reports/online", params={"group_by": "scenario,variant"}).json()
        report = api.get("/v1/experiments/e1").json()
    browser = DevTools(str(CHROMIUM), tmp_path / "profile")
    try:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)
        page = session["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", page)
        browser.call("Network.setExtraHTTPHeaders", page, headers=headers)
        metrics = {"width": WIDTH, "deviceScaleFactor": 1, "mobile": False}
        browser.call("Emulation.setDeviceMetricsOverride", page, height=900, **metrics)
        browser.call("Page.navigate", page, url=f"{url}/dashboard?user=u5")
        browser.wait_for("Page.loadEventFired")
        drawn = json.loads(
            browser.call("Runtime.evaluate", page, expression=READ_CHARTS, returnByValue=True)[
                "result"
            ]["value"]
        )
        height = browser.call("Page.getLayoutMetrics", page)["cssContentSize"]["height"]
        browser.call("Emulation.setDeviceMetricsOverride", page, height=int(height), **metrics)
        # A little smaller than life: the whole page stays under 500 KB as a PNG.
        clip = {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": SCALE}
        shot = browser.call("Page.captureScreenshot", page, format="png", clip=clip)
    finally:
        browser.close()
    picture = tmp_path / "dashboard.png"
    picture.write_bytes(base64.b64decode(shot["data"]))

    requested = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert requested and all(u.startswith(f"{url}/") for u in requested), requested
    assert len(requested) == 1  # the page itself: no script, style, font or image to fetch
    errors = [
        e
        for e in browser.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert errors == []

    assert {g["ctr"]["value"] for g in groups["groups"]} == {
        float(v) for v in drawn["ctr-by-group"]["values"]
    }
    assert [str(g["ctr"]["low"]) for g in groups["groups"]] == drawn["ctr-by-group"]["lows"]
    variants = drawn["experiment-0-ctr"]
    assert variants["values"] == [str(v["ctr"]["value"]) for v in report["variants"]]
    lift = report["comparisons"][0]["lift"]
    assert drawn["experiment-0-lift"]["values"] == [str(lift["value"])]
    assert report["comparisons"][0]["decision"] in drawn["experiment-0-lift"]["text"]
    for anchor in ("event-rate", "ctr-over-time", "model-versions", "top-items", "trending"):
        assert drawn[anchor]["width"] > 300, anchor  # laid out at a readable width
        assert drawn[anchor]["values"], anchor
    assert picture.stat().st_size < 500_000
    if os.environ.get("FRESHREC_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(picture, SCREENSHOT)
