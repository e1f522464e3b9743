"""``freshrec keys list|revoke`` and key expiry against a real ``freshrec serve`` process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from freshrec.cli import app
from freshrec.engine import DB_FILE
from freshrec.serving.auth import CHANGES_FILE, KeyStore, Scope
from freshrec.store import SqliteStore

from .test_serve_command import LAUNCH, free_port, wait_ready


def freshrec(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a process of its own."""
    command = [sys.executable, "-c", LAUNCH, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def create(data: Path, scope: str) -> str:
    result = CliRunner().invoke(app, ["keys", "create", "--data", str(data), "--scope", scope])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def create_expired(data: Path) -> str:
    """A read key that expired a minute ago (made with a clock two minutes behind)."""
    store = SqliteStore(data / DB_FILE)
    try:
        back = time.time() - 120
        keys = KeyStore(store, changes=data / CHANGES_FILE, clock=lambda: back)
        return keys.create(Scope.READ, expires_at=back + 60)
    finally:
        store.close()


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def key_id(key: str) -> str:
    return key.split("_")[1]


def test_revoked_expired_and_unknown_keys_are_refused_by_a_running_server(
    tmp_path: Path,
) -> None:
    data, port = tmp_path / "data", free_port()
    admin, reader, unused = create(data, "admin"), create(data, "read"), create(data, "ingest")
    expired = create_expired(data)
    server = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "serve", "--data", str(data), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/v1/recommendations/u1"

    def get(key: str) -> httpx.Response:
        return httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    try:
        wait_ready(f"http://127.0.0.1:{port}", server)
        assert get(reader).status_code == 200
        assert get(admin).status_code == 200

        revoked = freshrec("keys", "revoke", "--data", data, key_id(reader))
        assert revoked.returncode == 0, revoked.stderr
        assert f"revoked key {key_id(reader)}" in revoked.stdout
        refused = get(reader)  # the very next request after the command returned
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert "revoked" in error_of(refused)["message"]
        assert get(admin).status_code == 200  # the other keys are untouched

        too_late = get(expired)
        assert too_late.status_code == 401 and "expired" in error_of(too_late)["message"]

        made_up = "fr_" + "0" * 16 + "_" + "A" * 43
        unknown = get(made_up)
        assert unknown.status_code == 401 and "unknown" in error_of(unknown)["message"]

        late = freshrec("keys", "create", "--data", data, "--scope", "read")
        assert late.returncode == 0, late.stderr
        assert get(late.stdout.strip()).status_code == 200  # made while serving: usable at once
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)

    # Shutting down wrote when each key was last used; nothing else counts as a use.
    listed = freshrec("keys", "list", "--data", data, "--json")
    assert listed.returncode == 0, listed.stderr
    keys = {entry["key_id"]: entry for entry in json.loads(listed.stdout.splitlines()[-1])["keys"]}
    assert len(keys) == 5
    assert keys[key_id(reader)]["status"] == "revoked" and keys[key_id(reader)]["revoked_at"]
    assert keys[key_id(reader)]["last_used_at"] is not None
    assert keys[key_id(admin)]["status"] == "active" and keys[key_id(admin)]["last_used_at"]
    assert keys[key_id(unused)]["last_used_at"] is None
    assert keys[key_id(expired)]["status"] == "expired"
    assert keys[key_id(expired)]["last_used_at"] is None  # a refused key was not used
    # The secret is everything after the second "_" (its base64url alphabet has "_" too).
    assert all(key.split("_", 2)[2] not in listed.stdout for key in (admin, reader, unused))


def test_keys_list_shows_a_table_without_secrets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    runner = CliRunner()
    empty = runner.invoke(app, ["keys", "list", "--data", str(tmp_path)])
    assert empty.exit_code == 0 and "holds no API keys" in empty.stdout
    assert not (tmp_path / DB_FILE).exists()  # listing creates nothing
    read = create(data, "read")
    made = runner.invoke(
        app, ["keys", "create", "--data", str(data), "--scope", "admin", "--expires-in", "30d"]
    )
    assert made.exit_code == 0, made.output
    assert "created an admin key, valid until" in made.stderr
    assert runner.invoke(app, ["keys", "revoke", "--data", str(data), read]).exit_code == 0
    table = runner.invoke(app, ["keys", "list", "--data", str(data)])
    assert table.exit_code == 0, table.output
    for heading in ("id", "scope", "created", "last used", "expires", "status"):
        assert heading in table.stdout
    assert key_id(read) in table.stdout and key_id(made.stdout.strip()) in table.stdout
    assert "revoked" in table.stdout and "active" in table.stdout and "never" in table.stdout
    assert read.split("_", 2)[2] not in table.stdout  # the secret may hold "_"
    listed = runner.invoke(app, ["keys", "list", "--data", str(data), "--json"]).stdout
    expiry = json.loads(listed)["keys"][1]["expires_at"]
    days = (datetime.fromisoformat(expiry).timestamp() - time.time()) / 86_400
    assert 29.9 < days <= 30


def test_revoke_names_what_it_cannot_find(tmp_path: Path) -> None:
    data = tmp_path / "data"
    runner = CliRunner()
    create(data, "read")
    missing = runner.invoke(app, ["keys", "revoke", "--data", str(data), "0123456789abcdef"])
    assert missing.exit_code == 2 and "no API key has the id 0123456789abcdef" in missing.stderr
    garbage = runner.invoke(app, ["keys", "revoke", "--data", str(data), "oops"])
    assert garbage.exit_code == 2 and "neither a key id" in garbage.stderr
    assert "Traceback" not in missing.output + garbage.output


def test_bad_expiry_options_exit_2_naming_the_option(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["keys", "create", "--data", str(tmp_path / "data"), "--scope", "read"]
    cases = {
        ("--expires-in", "30 days"): "--expires-in",
        ("--expires-in", "0d"): "--expires-in",
        ("--expires", "tomorrow"): "--expires",
        ("--expires", "2020-01-01"): "--expires",
        ("--expires-in", "1d", "--expires", "2099-01-01"): "--expires-in / --expires",
    }
    for extra, option in cases.items():
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert f"Invalid value for {option}" in " ".join(result.output.split()), result.output
    assert not (tmp_path / "data").exists()  # refused before anything was written


def test_serve_refuses_a_directory_whose_keys_are_all_revoked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = create(data, "admin")
    runner = CliRunner()
    assert runner.invoke(app, ["keys", "revoke", "--data", str(data), key]).exit_code == 0
    result = runner.invoke(app, ["serve", "--data", str(data), "--port", str(free_port())])
    assert result.exit_code == 2
    assert "no usable API keys" in result.stderr and "freshrec keys create" in result.stderr


def test_creating_a_key_says_when_it_made_a_new_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "freshrec-dtaa"  # a typo of an existing directory, say
    first = CliRunner().invoke(app, ["keys", "create", "--data", str(data), "--scope", "read"])
    assert first.exit_code == 0, first.output
    assert f"created a new, empty data directory {data}" in first.stderr
    again = CliRunner().invoke(app, ["keys", "create", "--data", str(data), "--scope", "read"])
    assert again.exit_code == 0 and "new, empty data directory" not in again.stderr
