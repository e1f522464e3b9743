"""``freshrec demo --serve``: a real process serving a shop, with live traffic through HTTP."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from freshrec import Engine
from freshrec.cli import app
from freshrec.simulate import ShopConfig, SyntheticShop
from freshrec.simulate.live import LiveShoppers

SMALL = ("--users", "200", "--items", "100", "--events", "3000", "--rate", "50")
EVENTS_GAUGE = re.compile(r"^freshrec_engine_events ([0-9.e+]+)$", re.MULTILINE)
RATE_CELL = re.compile(r"events/s, last 10 s</td><td>([0-9.]+)</td>")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_demo(data: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "freshrec.cli", "demo", "--serve", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--data", str(data), *SMALL, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_ready(url: str, process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"demo exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("the demo server did not become ready")


def stored_events(url: str) -> float:
    match = EVENTS_GAUGE.search(httpx.get(f"{url}/metrics", timeout=5.0).text)
    assert match is not None
    return float(match.group(1))


def wait_for_traffic(url: str, above: float, timeout: float = 20.0) -> float:
    """Return the engine's event count once it exceeds ``above`` (live events arrived)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = stored_events(url)
        if count > above:
            return count
        time.sleep(0.2)
    pytest.fail(f"no live events arrived: still {above} events")


def finish(process: subprocess.Popen[str], timeout: float) -> str:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"the demo did not stop within {timeout} s:\n{output}")
    return output


@pytest.mark.slow
def test_demo_serves_live_traffic_and_stops_by_itself(tmp_path: Path) -> None:
    data, port = tmp_path / "demo", free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_demo(data, port, "--duration", "8")
    try:
        wait_ready(url, process)
        first = wait_for_traffic(url, 3_000)
        page = httpx.get(f"{url}/dashboard", params={"user": "visitor"}, timeout=5.0)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "Live traffic" in page.text and "Top items" in page.text
        assert "Recommendations for visitor" in page.text
        assert "Open access" in page.text
        time.sleep(2.0)
        assert stored_events(url) > first  # traffic keeps coming through HTTP
        rate = RATE_CELL.search(httpx.get(f"{url}/dashboard", timeout=5.0).text)
        assert rate is not None and float(rate.group(1)) > 0.0
        recs = httpx.get(f"{url}/v1/recommendations/u1", params={"n": 3}, timeout=5.0).json()
        assert len(recs["items"]) == 3 and recs["recommendation_id"]
        output = finish(process, timeout=60.0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert f"{url}/dashboard" in output
    assert f"curl -s '{url}/v1/recommendations/" in output
    assert "--duration 8 s reached" in output
    assert output.count("OPEN ACCESS") == 1
    assert "stopped: server drained, engine closed" in output
    sent = re.search(r"traffic: ([0-9,]+) events sent", output)
    assert sent is not None and int(sent.group(1).replace(",", "")) > 0
    assert "0 rejected" in output
    with Engine.open(data) as engine:  # every acknowledged live event is in the log
        assert engine.stats()["events"] == 3_000 + int(sent.group(1).replace(",", ""))


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_demo_cleanly(tmp_path: Path, stop: signal.Signals) -> None:
    data, port = tmp_path / "demo", free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_demo(data, port)
    try:
        wait_ready(url, process)
        wait_for_traffic(url, 3_000)
        process.send_signal(stop)
        output = finish(process, timeout=15.0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert "stopped: server drained, engine closed" in output
    with Engine.open(data) as engine:
        assert engine.stats()["events"] > 3_000


@pytest.mark.slow
def test_a_second_run_reuses_the_data_and_a_temporary_dir_is_removed(tmp_path: Path) -> None:
    data, port = tmp_path / "demo", free_port()
    first = start_demo(data, port, "--duration", "1")
    assert "stored 3,000 events" in finish(first, timeout=60.0)
    second = start_demo(data, port, "--duration", "1")
    output = finish(second, timeout=60.0)
    assert second.returncode == 0, output
    assert "reusing" in output and "nothing loaded" in output

    command = [sys.executable, "-m", "freshrec.cli", "demo", "--serve", "--port", "0"]
    temporary = subprocess.run(
        [*command, *SMALL, "--duration", "0"],
        capture_output=True,
        text=True,
        timeout=60.0,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert temporary.returncode == 0, temporary.stdout + temporary.stderr
    removed = re.search(r"removed (\S+) \(pass --data", temporary.stdout)
    assert removed is not None and not Path(removed.group(1)).exists()
    assert re.search(r"http://127\.0\.0\.1:(?!0/)[0-9]+/dashboard", temporary.stdout)


@pytest.mark.slow
def test_a_signal_while_loading_stops_cleanly_and_removes_the_temporary_data() -> None:
    command = [sys.executable, "-m", "freshrec.cli", "demo", "--serve", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--events", "400000"],  # a load that takes several seconds
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("loading a synthetic shop into "), first
        process.send_signal(signal.SIGTERM)
        output = first + finish(process, timeout=15.0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert "interrupted" in output and "serving http" not in output
    removed = re.search(r"removed (\S+) \(pass --data", output)
    assert removed is not None and not Path(removed.group(1)).exists()


def test_a_taken_port_is_refused_before_loading(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["demo", "--serve", "--port", str(port), "--data", str(tmp_path / "d"), *SMALL]
        )
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert not (tmp_path / "d").exists()


def test_serving_options_need_serve() -> None:
    result = CliRunner().invoke(app, ["demo", "--port", "9000"])
    assert result.exit_code == 2
    assert "need --serve" in result.output


def test_live_shoppers_send_valid_events_that_follow_recommendations() -> None:
    shop = SyntheticShop(ShopConfig(n_users=50, n_items=60, n_events=0, seed=3))
    shoppers = LiveShoppers(shop, seed=3)
    again = LiveShoppers(shop, seed=3)
    with Engine.open(None) as engine:
        engine.upsert_items(shop.items())
        sessions = []
        for _ in range(200):
            user_id = shoppers.pick_user()
            assert user_id == again.pick_user()
            shown = [r.item_id for r in engine.recommend(user_id, 10)]
            events = shoppers.session(user_id, shown, "rec-1")
            assert events == again.session(user_id, shown, "rec-1")  # deterministic
            result = engine.ingest(
                [{**e, "timestamp": 1_700_000_000 + i} for i, e in enumerate(events)]
            )
            assert not result.errors
            sessions.append(events)
    flat = [event for events in sessions for event in events]
    kinds = {event["type"] for event in flat}
    assert {"view", "click", "cart", "purchase"} <= kinds
    followed = [event for event in flat if "recommendation_id" in event]
    assert followed and all(event["type"] != "view" for event in followed)


def test_the_spotlight_visitor_follows_an_interest_that_moves() -> None:
    shop = SyntheticShop(ShopConfig(n_users=20, n_items=100, n_events=0, seed=1))
    shoppers = LiveShoppers(shop, seed=1, spotlight_seconds=30.0)
    assert shoppers.interest(0.0) == shoppers.interest(29.9) != shoppers.interest(30.0)
    interest, events = shoppers.spotlight(31.0, shown=[], recommendation_id="r")
    assert interest == shoppers.interest(30.0)
    assert [e["type"] for e in events[:2]] == ["view", "click"]
    assert all("recommendation_id" not in e for e in events)  # not led by the (empty) list
    assert {shop.item_category(e["item_id"]) for e in events} == {interest}
    in_interest = [f"i{n}" for n in range(100) if shop.item_category(f"i{n}") == interest]
    elsewhere = next(f"i{n}" for n in range(100) if shop.item_category(f"i{n}") != interest)
    followed = 0
    for _ in range(50):
        shown = [elsewhere, in_interest[0]]
        _, events = shoppers.spotlight(31.0, shown=shown, recommendation_id="r")
        if events[0].get("recommendation_id") == "r":
            followed += 1
            assert events[0]["item_id"] == in_interest[0] and events[0]["type"] == "click"
    assert 15 <= followed <= 45  # most of the time, not always


def test_doctests() -> None:
    import doctest

    from freshrec.simulate import live

    assert doctest.testmod(live).failed == 0
