"""Measurement over HTTP: logged answers, shown reports, online reports, experiments."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from freshrec import Engine
from freshrec.serving import Scope

from .serving_helpers import BASE_TIME, bearer, error_of

TRENDING_ONLY = {"blend": {"covisitation": 0, "factors": 0, "trending": 1}}
AB = {
    "scenario": "home",
    "design": "ab",
    "variants": [
        {"name": "control", "share": 0.5, "settings": {}},
        {"name": "trending", "share": 0.5, "settings": TRENDING_ONLY},
    ],
}


def _click(user: str, item: str, rec: str | None) -> dict[str, Any]:
    event = {"user_id": user, "item_id": item, "type": "click", "timestamp": BASE_TIME + 10_000}
    if rec is not None:
        event["recommendation_id"] = rec
    return event


def test_answers_are_logged_and_clicks_reach_the_online_report(seeded: TestClient) -> None:
    body = seeded.get("/v1/recommendations/u0?n=5").json()
    cached = seeded.get("/v1/recommendations/u0?n=5").json()  # from the cache: a list all the same
    assert cached["recommendation_id"] != body["recommendation_id"]
    first = body["items"][0]["item_id"]
    sent = seeded.post("/v1/events", json=_click("u0", first, body["recommendation_id"]))
    assert sent.status_code == 202
    report = seeded.get("/v1/reports/online?group_by=scenario").json()
    (home,) = report["groups"]
    assert (home["scenario"], home["lists"], home["impressions"], home["clicks"]) == (
        "home",
        2,
        10,
        1,
    )
    assert home["ctr"]["value"] == 0.1 and home["ctr"]["low"] < 0.1 < home["ctr"]["high"]
    assert home["variant"] is None and home["position"] is None
    by_position = seeded.get("/v1/reports/online?group_by=position").json()["groups"]
    assert [g["clicks"] for g in by_position] == [1, 0, 0, 0, 0]


def test_shown_reports(seeded: TestClient, keys: dict[Scope, str]) -> None:
    body = seeded.get("/v1/recommendations/u1?n=4").json()
    shown = [body["items"][0]["item_id"]]
    reply = seeded.post(
        "/v1/impressions",
        json={"recommendation_id": body["recommendation_id"], "item_ids": shown},
        headers=bearer(keys[Scope.INGEST]),
    )
    assert reply.status_code == 202 and reply.json()["impressions"] == 1
    (home,) = seeded.get("/v1/reports/online").json()["groups"]
    assert home["impressions"] == 1
    unknown = seeded.post(
        "/v1/impressions", json={"recommendation_id": "f" * 32, "item_ids": shown}
    )
    assert unknown.status_code == 404 and error_of(unknown)["field"] == "recommendation_id"
    missing = seeded.post("/v1/impressions", json={"recommendation_id": body["recommendation_id"]})
    assert missing.status_code == 400 and error_of(missing)["field"] == "item_ids"
    read_key = seeded.post(
        "/v1/impressions",
        json={"recommendation_id": body["recommendation_id"], "item_ids": shown},
        headers=bearer(keys[Scope.READ]),
    )
    assert read_key.status_code == 403


def test_report_query_errors_name_the_parameter(seeded: TestClient) -> None:
    bad_key = seeded.get("/v1/reports/online?group_by=colour")
    assert bad_key.status_code == 400 and error_of(bad_key)["field"] == "group_by"
    bad_time = seeded.get("/v1/reports/online?since=yesterday")
    assert bad_time.status_code == 400 and error_of(bad_time)["field"] == "since"


def test_an_ab_experiment_over_http(
    seeded: TestClient, engine: Engine, keys: dict[Scope, str]
) -> None:
    refused = seeded.put("/v1/experiments/e1", json=AB, headers=bearer(keys[Scope.READ]))
    assert refused.status_code == 403
    created = seeded.put("/v1/experiments/e1", json=AB)
    assert created.status_code == 200 and created.json()["status"] == "running"
    again = seeded.put("/v1/experiments/e1", json=AB)
    assert again.status_code == 409 and error_of(again)["field"] == "name"
    bad = seeded.put("/v1/experiments/e2", json={**AB, "variants": [{"name": "x"}]})
    assert bad.status_code == 400 and error_of(bad)["field"] == "variants"
    for k in range(8):
        user = f"u{k}"
        wanted = seeded.get(f"/v1/experiments/e1/assignment/{user}").json()["variant"]
        body = seeded.get(f"/v1/recommendations/{user}?n=5").json()
        assert body["variant"] == wanted
        seeded.post(
            "/v1/events", json=_click(user, body["items"][0]["item_id"], body["recommendation_id"])
        )
    report = seeded.get("/v1/experiments/e1").json()
    assert {v["name"] for v in report["variants"]} == {"control", "trending"}
    assert sum(v["clicks"] for v in report["variants"]) == 8
    assert sum(v["users"] for v in report["variants"]) == 8
    assert report["comparisons"][0]["decision"] in {"better", "worse", "undecided"}
    assert set(report["srm"]) == {"p_value", "mismatch"}
    grouped = seeded.get("/v1/reports/online?group_by=variant").json()["groups"]
    assert {g["variant"] for g in grouped} == {"control", "trending"}
    assert seeded.get("/v1/experiments").json()["experiments"][0]["name"] == "e1"
    assert seeded.post("/v1/experiments/e1/stop").status_code == 200
    assert seeded.get("/v1/recommendations/u1?n=5").json()["variant"] is None
    assert seeded.get("/v1/experiments/nope").status_code == 404


def test_interleaved_items_name_their_team(seeded: TestClient) -> None:
    seeded.put("/v1/experiments/mix", json={**AB, "design": "interleave"})
    body = seeded.get("/v1/recommendations/u2?n=6").json()
    assert body["variant"] == "interleaved"
    assert {item["team"] for item in body["items"]} == {"control", "trending"}


def test_metrics_export_ctr_per_scenario_and_variant(seeded: TestClient) -> None:
    body = seeded.get("/v1/recommendations/u3?n=5").json()
    seeded.post(
        "/v1/events", json=_click("u3", body["items"][1]["item_id"], body["recommendation_id"])
    )
    text = seeded.get("/metrics").text
    assert 'freshrec_online_lists_total{scenario="home",variant=""} 1.0' in text
    assert 'freshrec_online_clicks_total{scenario="home",variant=""} 1.0' in text
    assert 'freshrec_online_ctr{bound="value",scenario="home",variant=""} 0.2' in text


def test_series_over_time(seeded: TestClient) -> None:
    seeded.get("/v1/recommendations/u4?n=5")
    body = seeded.get("/v1/reports/series?by=scenario").json()
    assert body["bucket_seconds"] == 60
    (row,) = body["series"]
    assert (row["scenario"], row["lists"], row["impressions"]) == ("home", 1, 5)
    assert seeded.get("/v1/reports/series?by=position").status_code == 400
    assert seeded.get("/v1/reports/series?by=colour").status_code == 400


def test_a_click_on_an_item_reported_unshown_counts_it_shown(seeded: TestClient) -> None:
    """Review: clicks above impressions made every report answer 500 (for good)."""
    body = seeded.get("/v1/recommendations/u5?n=3").json()
    rid = body["recommendation_id"]
    assert (
        seeded.post("/v1/impressions", json={"recommendation_id": rid, "item_ids": []}).status_code
        == 202
    )
    seeded.post("/v1/events", json=_click("u5", body["items"][2]["item_id"], rid))
    report = seeded.get("/v1/reports/online")
    assert report.status_code == 200
    (home,) = report.json()["groups"]
    assert (home["impressions"], home["clicks"]) == (1, 1)
    assert seeded.get("/metrics").status_code == 200


def test_variants_that_would_break_answers_are_refused(seeded: TestClient) -> None:
    """Review: unknown sources and overflowing weights or shares were accepted, then 500s."""
    cases = [
        ({"blend": {"sources": {"nope": 1}}}, "variants[1].settings.blend.sources.nope"),
        (
            {"scenarios": {"new_user_blend": {"sources": {"nope": 1}}}},
            "variants[1].settings.scenarios.new_user_blend.sources.nope",
        ),
        ({"blend": {"covisitation": 1e308}}, "variants[1].settings.blend.covisitation"),
    ]
    for settings, field in cases:
        body = {**AB, "variants": [AB["variants"][0], {"name": "b", "settings": settings}]}
        refused = seeded.put("/v1/experiments/bad", json=body)
        assert refused.status_code == 400 and error_of(refused)["field"] == field, refused.text
    huge = {**AB, "variants": [{"name": "a", "share": 1e308}, {"name": "b", "share": 1e308}]}
    refused = seeded.put("/v1/experiments/bad", json=huge)
    assert refused.status_code == 400 and error_of(refused)["field"] == "variants[0].share"
