"""``freshrec keys create`` and ``freshrec serve``, the latter as a real server process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from freshrec import Engine
from freshrec.cli import app as cli_app
from freshrec.serving.auth import BLOB_NAME, KeyStore
from freshrec.serving.cli_serve import register
from freshrec.store import SqliteStore

# Until cli.py registers the serving commands itself, the process is started this way;
# ``register`` is idempotent, so this keeps working once it does.
LAUNCH = (
    "from freshrec.cli import app; from freshrec.serving.cli_serve import register; "
    "register(app); app(prog_name='freshrec')"
)
KEY = re.compile(r"^fr_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")
EVENT = {"user_id": "u1", "item_id": "i1", "type": "click", "timestamp": 1_700_000_000}


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    register(cli_app)
    register(cli_app)  # idempotent
    assert [c.name for c in cli_app.registered_commands].count("serve") == 1
    return cli_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    """A ``freshrec serve --open`` process on a free port, stopped with SIGTERM."""
    data, port = tmp_path / "data", free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "serve", "--data", str(data), "--port", str(port), "--open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url, process, data
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_ready(url: str, process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"server exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("server did not become ready")


def test_keys_create_prints_one_key_and_stores_its_hash(cli: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["keys", "create", "--data", str(tmp_path), "--scope", "read"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert KEY.match(key), result.stdout
    assert result.stdout.count("\n") == 1
    store = SqliteStore(tmp_path / "freshrec.db")
    try:
        blob = store.get_blob(BLOB_NAME)
        assert blob is not None and key.split("_", 2)[2] not in blob.decode()
        assert KeyStore(store).authenticate(key) is not None
    finally:
        store.close()


def test_keys_create_refuses_an_unknown_scope(cli: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["keys", "create", "--data", str(tmp_path), "--scope", "root"])
    assert result.exit_code == 2


def test_serve_refuses_to_start_without_keys(cli: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--data", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "freshrec keys create --data" in result.output
    assert "--open" in result.output
    assert not (tmp_path / "empty").exists()  # refusing creates nothing


def test_a_real_server_process(server: tuple[str, subprocess.Popen[str], Path]) -> None:
    url, process, data = server
    assert httpx.get(f"{url}/health/ready").json() == {"status": "ready"}
    listed = httpx.post(f"{url}/v1/items", json=[{"item_id": "i1"}, {"item_id": "i2"}])
    assert listed.json() == {"written": 2}
    events = [{**EVENT, "user_id": "u2", "item_id": "i2"}, EVENT, {**EVENT, "item_id": "i2"}]
    response = httpx.post(f"{url}/v1/events", json=events)
    assert response.status_code == 202
    assert response.json()["accepted"] == 3
    recs = httpx.get(f"{url}/v1/recommendations/u2", params={"n": 5}).json()
    assert [item["item_id"] for item in recs["items"]] == ["i1"]  # u1 went i1 -> i2
    assert len(recs["recommendation_id"]) == 32

    process.send_signal(signal.SIGTERM)  # drains, then flushes and closes the engine
    output, _ = process.communicate(timeout=30)
    # uvicorn re-raises the signal once it has shut down cleanly
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert output.count("OPEN ACCESS") == 1
    with Engine.open(data) as engine:
        assert engine.stats()["events"] == 3


def test_a_real_server_checks_keys(cli: typer.Typer, tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--data", str(data), "--scope", "ingest"])
    ingest = made.stdout.strip()
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "serve", "--data", str(data), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        assert httpx.post(f"{url}/v1/events", json=EVENT).status_code == 401
        headers = {"Authorization": f"Bearer {ingest}"}
        assert httpx.post(f"{url}/v1/events", json=EVENT, headers=headers).status_code == 202
        assert httpx.get(f"{url}/v1/recommendations/u1", headers=headers).status_code == 403
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
