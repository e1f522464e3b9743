"""One writer per data directory: a second writer exits 2 naming the first (DESIGN.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from freshrec import Engine
from freshrec.errors import DataDirectoryInUseError, StoreError

from .test_serve_command import LAUNCH, free_port, wait_ready

EVENTS_CSV = "user_id,item_id,type,timestamp\nu1,i1,click,1700000000\nu1,i2,click,1700000001\n"


def freshrec(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, *args], capture_output=True, text=True, timeout=timeout
    )


def test_a_second_engine_on_one_directory_is_refused_until_the_first_closes(
    tmp_path: Path,
) -> None:
    first = Engine.open(tmp_path / "data")
    with pytest.raises(DataDirectoryInUseError) as caught:
        Engine.open(tmp_path / "data")
    assert isinstance(caught.value, StoreError)
    assert f"pid {os.getpid()}" in str(caught.value) and "in use" in str(caught.value)
    first.close()
    with Engine.open(tmp_path / "data") as again:  # closing let it go
        assert again.stats()["events"] == 0
    with Engine.open(None), Engine.open(None):  # in-memory engines share nothing
        pass


def test_serve_holds_the_directory_against_import_train_and_a_second_serve(
    tmp_path: Path,
) -> None:
    data, events = tmp_path / "data", tmp_path / "events.csv"
    events.write_text(EVENTS_CSV)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "serve", "--data", str(data), "--port", str(port), "--open"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", server)
        refusals = [
            freshrec("import", "--data", str(data), "--events", str(events)),
            freshrec("train", "--data", str(data)),
            freshrec("recommend", "--data", str(data), "--user", "u1"),
            freshrec("serve", "--data", str(data), "--port", str(free_port()), "--open"),
        ]
        for refused in refusals:
            assert refused.returncode == 2, refused.stderr
            assert "in use by another process" in refused.stderr
            assert f"pid {server.pid}" in refused.stderr and "serve" in refused.stderr
            assert "Traceback" not in refused.stderr
        assert "serving http" not in refusals[-1].stderr  # refused before it says it serves
        assert server.poll() is None  # the holder is untouched
        # The kernel frees the lock however the holder dies, kill -9 included.
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        imported = freshrec("import", "--data", str(data), "--events", str(events))
        assert imported.returncode == 0, imported.stderr
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
