"""The dashboard through the app factory: its charts hold the numbers the API returns."""

from __future__ import annotations

import gzip
import html as htmllib
import re

from fastapi.testclient import TestClient

from freshrec import Engine
from freshrec.serving import Scope, create_app
from freshrec.serving.activity import EventActivity
from freshrec.serving.dashboard import charts, render
from freshrec.serving.dashboard.traffic import TRENDING_PROBE

from .serving_helpers import BASE_TIME, bearer

TRENDING_ONLY = {"blend": {"covisitation": 0, "factors": 0, "trending": 1}}
AB = {
    "scenario": "home",
    "variants": [
        {"name": "control", "settings": {}},
        {"name": "trending", "settings": TRENDING_ONLY},
    ],
}


def figure(page: str, anchor: str) -> str:
    """The markup of one chart, by its element id."""
    start = page.index(f"<figure id={anchor}>")
    return page[start : page.index("</figure>", start)]


def attributes(fragment: str, name: str = "data-value") -> list[str]:
    return re.findall(rf'{name}="([^"]*)"', fragment)


def traffic(client: TestClient, users: range, scenario: str = "home") -> None:
    """Each user gets an answer; even users click its first item, every fourth one buys it."""
    for k in users:
        user = f"u{k}"
        body = client.get(f"/v1/recommendations/{user}", params={"n": 5, "scenario": scenario})
        answer = body.json()
        first, rec = answer["items"][0]["item_id"], answer["recommendation_id"]
        events = []
        if k % 2 == 0:
            events.append({"user_id": user, "item_id": first, "type": "click"})
        if k % 4 == 0:
            events.append({"user_id": user, "item_id": first, "type": "purchase", "value": 9.5})
        for stamp, event in enumerate(events):
            event.update(recommendation_id=rec, timestamp=BASE_TIME + 50_000 + stamp)
        if events:
            assert client.post("/v1/events", json=events).status_code == 202


def test_outcome_charts_hold_the_online_report_and_the_series(seeded: TestClient) -> None:
    traffic(seeded, range(12))
    traffic(seeded, range(12, 20), scenario="new_user")
    groups = seeded.get("/v1/reports/online?group_by=scenario,variant").json()["groups"]
    assert {g["scenario"] for g in groups} == {"home", "new_user"}
    page = seeded.get("/dashboard").text
    by_group = figure(page, "ctr-by-group")
    conversion = figure(page, "conversion-by-group")
    for group in groups:
        ctr, rate = group["ctr"], group["conversion_rate"]
        assert f'data-value="{ctr["value"]}" data-low="{ctr["low"]}" data-high="{ctr["high"]}"' in (
            by_group
        )
        assert f'data-value="{rate["value"]}" data-low="{rate["low"]}"' in conversion
    assert attributes(by_group) == [str(g["ctr"]["value"]) for g in groups]
    series = seeded.get("/v1/reports/series?by=scenario,variant").json()["series"]
    over_time = attributes(figure(page, "ctr-over-time"))
    expected = [str(round(r["clicks"] / r["impressions"], 6)) for r in series]
    assert sorted(over_time) == sorted(expected)
    assert "home" in figure(page, "ctr-over-time") and "new_user" in by_group
    # The table beside the charts says the same, as percentages with intervals.
    home = next(g for g in groups if g["scenario"] == "home")
    assert f"{home['ctr']['value']:.2%} [{home['ctr']['low']:.2%}" in page


def test_an_experiment_shows_each_variants_interval_and_the_lift_decision(
    seeded: TestClient,
) -> None:
    assert "No experiments yet" in seeded.get("/dashboard").text
    assert seeded.put("/v1/experiments/e1", json=AB).status_code == 200
    traffic(seeded, range(20))
    report = seeded.get("/v1/experiments/e1").json()
    page = seeded.get("/dashboard").text
    assert "e1: home, ab, running" in page
    per_variant = figure(page, "experiment-0-ctr")
    for variant in report["variants"]:
        ctr = variant["ctr"]
        assert f'data-value="{ctr["value"]}" data-low="{ctr["low"]}" data-high="{ctr["high"]}"' in (
            per_variant
        )
        assert f">{variant['name']}<" in per_variant  # an axis label
    (comparison,) = report["comparisons"]
    lift = comparison["lift"]
    drawn = figure(page, "experiment-0-lift")
    # The real bounds, even where the drawing is clipped to ±100%.
    assert attributes(drawn) == [str(lift["value"])]
    assert attributes(drawn, "data-low") == [str(lift["low"])]
    assert attributes(drawn, "data-high") == [str(lift["high"])]
    label = f"trending vs control: {lift['value']:+.1%}, {comparison['decision']}"
    assert htmllib.escape(label) in drawn
    assert f"Sample ratio check p = {report['srm']['p_value']:.3g}" in page


def test_an_interleaved_experiment_shows_its_preference(seeded: TestClient) -> None:
    seeded.put("/v1/experiments/mix", json={**AB, "design": "interleave"})
    traffic(seeded, range(10))
    report = seeded.get("/v1/experiments/mix").json()
    page = seeded.get("/dashboard").text
    drawn = figure(page, "experiment-0-lift")
    assert "Preference minus an even split" in drawn
    assert attributes(drawn) == [str(report["comparisons"][0]["lift"]["value"])]


def test_the_user_inspector_shows_history_titles_and_why(
    seeded: TestClient, engine: Engine
) -> None:
    history = engine.history("u3")
    answer = engine.recommend("u3", 4)
    lists_before = engine.measurement.online_report(["scenario"])["groups"]
    page = seeded.get("/dashboard", params={"user": "u3", "n": 4}).text
    panel = page[page.index("<section id=user") : page.index("</section>")]
    assert "Recommendations for u3" in panel
    newest = history[-1]
    assert f"<td class=num>1</td><td>{newest}</td><td>Item {newest[1:]}</td>" in panel
    for k, rec in enumerate(answer):
        row = f"<td class=num>{k + 1}</td><td>{rec.item_id}</td><td>Item {rec.item_id[1:]}</td>"
        assert row in panel
        assert f"{rec.score:.3f}</td><td>{htmllib.escape(', '.join(rec.why))}</td>" in panel
    assert "no experiment runs over home" in panel
    # A preview: nothing was logged for measurement.
    assert engine.measurement.online_report(["scenario"])["groups"] == lists_before


def test_a_user_in_an_experiment_is_previewed_with_their_variant(
    seeded: TestClient, engine: Engine
) -> None:
    seeded.put("/v1/experiments/e1", json=AB)
    users = [f"u{k}" for k in range(20)]
    variant = {u: seeded.get(f"/v1/experiments/e1/assignment/{u}").json()["variant"] for u in users}
    user = next(u for u in users if variant[u] == "trending")
    page = seeded.get("/dashboard", params={"user": user, "n": 3}).text
    assert "experiment e1, variant trending: answered with its settings" in page
    shown = re.findall(r"<td class=num>\d+</td><td>(i\d+)</td>", page.split("Current answer")[1])
    served = seeded.get(f"/v1/recommendations/{user}", params={"n": 3}).json()
    assert shown == [item["item_id"] for item in served["items"]]


def test_model_panel_and_trending(seeded: TestClient, engine: Engine) -> None:
    engine.train()
    traffic(seeded, range(6))
    stats = engine.stats()
    page = seeded.get("/dashboard").text
    assert f"<b>{stats['model_version']}</b><span>serving model_version</span>" in page
    assert f"<b>{stats['trained_through_events']:,}</b><span>trained through events" in page
    versions = seeded.get("/v1/reports/series?by=model_version").json()["series"]
    drawn = figure(page, "model-versions")
    assert sorted(attributes(drawn)) == sorted(str(r["lists"]) for r in versions)
    assert stats["model_version"] in drawn  # the legend
    trending = figure(page, "trending")
    cold = engine.recommend(TRENDING_PROBE, 10)
    assert attributes(trending) == [repr(r.score) for r in reversed(cold)]  # drawn bottom up
    assert f"Item {cold[0].item_id[1:]} ({cold[0].item_id})" in trending
    assert engine.history(TRENDING_PROBE) == []


def test_event_rate_and_top_items_come_from_this_servers_events(engine: Engine) -> None:
    app = create_app(engine, auth=None, open_access=True)
    context = app.state.serving
    engine.upsert_items([{"item_id": "a", "title": "Apple <b>pie</b>"}, {"item_id": "b"}])
    now = 1_000_005.0
    context.activity.record(["a"] * 40 + ["b"] * 10, now=now - 25)
    context.activity.record(["a"] * 30, now=now - 3)  # in the bucket now is in: not drawn
    page = render(context, None, 10, now=now)
    rate = [float(v) for v in attributes(figure(page, "event-rate"))]
    assert len(rate) == 29 and sum(rate) * 10 == 50 and rate[-2] == 5.0
    top = figure(page, "top-items")
    assert attributes(top) == ["10", "70"]  # drawn bottom up: b, then a
    assert "Apple &lt;b&gt;pie&lt;/b&gt; (a)" in top and "<b>pie" not in page
    assert "events/s, last 10 s</td><td>3.0</td>" in page


def test_the_activity_series_counts_per_bucket() -> None:
    activity = EventActivity(window_seconds=60)
    activity.record(["x"] * 4, now=1_000.0)
    activity.record(["y"] * 2, now=1_009.0)
    activity.record(["x"], now=1_031.0)
    assert activity.series(20, now=1_035.0) == [(980, 0), (1000, 6), (1020, 1)]
    assert activity.series(20, now=1_075.0) == [(1020, 1), (1040, 0), (1060, 0)]
    assert len(activity.series(7, now=1_035.0)) == 8


def test_a_keyed_server_guards_the_page_and_the_page_needs_nothing_else(
    seeded: TestClient, keys: dict[Scope, str]
) -> None:
    traffic(seeded, range(8))
    assert seeded.get("/dashboard", headers={"Authorization": ""}).status_code == 401
    ingest_only = seeded.get("/dashboard", headers=bearer(keys[Scope.INGEST]))
    assert ingest_only.status_code == 403
    reply = seeded.get(
        "/dashboard", headers={**bearer(keys[Scope.READ]), "Accept-Encoding": "gzip"}
    )
    assert reply.status_code == 200 and reply.headers["content-encoding"] == "gzip"
    assert reply.headers["cache-control"] == "no-store"
    assert int(reply.headers["content-length"]) < 60_000  # ten charts, compressed
    page = reply.text
    assert page.count("<svg") == 8 and "<script" not in page
    # Nothing to fetch: no script, stylesheet, image or frame, and no other host named.
    assert not re.search(r"<(script|img|iframe|object|embed)\b", page)
    assert re.findall(r"<link [^>]*>", page) == ["<link rel=icon href='data:,'>"]
    hosts = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert hosts <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    plain = seeded.get("/dashboard", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(gzip.compress(plain.content)) < len(plain.content) / 4


def test_an_empty_engine_renders_every_panel(client: TestClient) -> None:
    page = client.get("/dashboard", params={"user": "nobody"}).text
    for anchor in ("ctr-over-time", "ctr-by-group", "model-versions", "top-items", "trending"):
        assert "no data yet" in figure(page, anchor)
    assert set(attributes(figure(page, "event-rate"))) == {"0.0"}
    assert "No events yet: the answer is the cold-start one." in page


def test_charts_draw_gaps_clip_wide_intervals_and_escape(seeded: TestClient) -> None:
    point = charts.Point(0.5, "<x>", low=-3.0, high=1e6, clip=1.0)
    svg = charts.lift_bars(["a <b>"], [point], charts.signed_percent)
    assert 'data-low="-3.0" data-high="1000000.0"' in svg
    assert "<title>&lt;x&gt;</title>" in svg and "a &lt;b&gt;" in svg
    assert "+1000000" not in svg  # the axis ends near the clip, not at the bound
    gaps = charts.lines(
        [charts.Series("s", "#000", [charts.Point(None), charts.Point(1.0)])], ["", ""]
    )
    assert attributes(gaps) == ["1.0"]
