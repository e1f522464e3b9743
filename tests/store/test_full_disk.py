"""A full disk: nothing unacknowledged is stored, nothing acknowledged is lost, reads go on.

A real full filesystem: a small tmpfs mounted by the test (root only; skipped elsewhere).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from freshrec import Engine
from freshrec.errors import EngineClosedError, StoreUnavailableError
from serving.test_serve_command import LAUNCH, free_port, wait_ready

TMPFS_SIZE = "3m"
# Long event ids fill the disk in a few hundred batches.
PADDING = "x" * 200


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def batch(start: int, size: int = 50) -> list[dict[str, object]]:
    return [
        {"user_id": f"u{k % 40}", "item_id": f"i{k % 20}", "type": "click",
         "timestamp": 1_700_000_000 + k, "event_id": f"e{k}-{PADDING}"}
        for k in range(start, start + size)
    ]  # fmt: skip


def fill(send: object) -> int:
    """Send batches until the store refuses one; return how many events were acknowledged."""
    acked = 0
    for start in itertools.count(0, 50):
        try:
            result = send(batch(start))  # type: ignore[operator]
        except StoreUnavailableError:
            return acked
        if result is None:
            return acked
        acked += result
        assert start < 1_000_000, "the disk never filled"
    raise AssertionError("unreachable")


def test_the_python_api_on_a_full_disk(small_disk: Path) -> None:
    data = small_disk / "data"
    engine = Engine.open(data)
    engine.upsert_items([{"item_id": f"i{k}"} for k in range(20)])
    acked = fill(lambda events: engine.ingest(events).accepted)
    assert acked > 0
    assert engine.stats()["events"] == acked  # memory holds exactly what was committed
    assert engine.recommend("u1", n=5)  # reads go on
    with pytest.raises(StoreUnavailableError):
        engine.upsert_items([{"item_id": "late", "title": PADDING * 20_000}])  # 4 MB
    engine.close()
    with pytest.raises(EngineClosedError):
        engine.ingest(batch(0))
    with Engine.open(data) as again:  # every acknowledged event, nothing else
        assert again.stats()["events"] == acked
        assert again.store.count_events() == acked
        assert again.get_item("i3").item_id == "i3"


def test_a_server_on_a_full_disk_answers_503_with_retry_after(small_disk: Path) -> None:
    data, port = small_disk / "data", free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "serve", "--data", str(data), "--port", str(port), "--open"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server)
        items = [{"item_id": f"i{k}"} for k in range(20)]
        assert httpx.post(f"{url}/v1/items", json=items).status_code == 200
        refusal: list[httpx.Response] = []

        def send(events: list[dict[str, object]]) -> int | None:
            response = httpx.post(f"{url}/v1/events", json=events, timeout=30)
            if response.status_code == 202:
                accepted: int = response.json()["accepted"]
                return accepted
            refusal.append(response)
            return None

        acked = fill(send)
        [refused] = refusal
        assert refused.status_code == 503
        assert refused.headers["Retry-After"].isdigit()
        assert refused.json()["error"]["code"] == "store_unavailable"
        assert "full" in refused.json()["error"]["message"]
        recs = httpx.get(f"{url}/v1/recommendations/u1?n=5")
        assert recs.status_code == 200 and recs.json()["items"]  # reads go on
        assert httpx.get(f"{url}/health/ready").status_code == 200  # nothing diverged
        server.terminate()
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    with Engine.open(data) as again:
        assert again.stats()["events"] == acked
