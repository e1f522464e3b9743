"""A real ``freshrec serve`` process per test module, and keys made with ``freshrec keys``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

N_ITEMS = 30
# Taste groups: users ``even<k>`` click even items, ``odd<k>`` odd items.
N_USERS = 12


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "freshrec.cli", *args]


def create_key(data: Path, scope: str) -> str:
    """Run ``freshrec keys create`` and return the key it prints."""
    result = subprocess.run(
        cli("keys", "create", "--data", str(data), "--scope", scope),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


@contextmanager
def running_server(data: Path, open_access: bool) -> Iterator[str]:
    """Start ``freshrec serve`` on a free port, wait for ``/health/ready``, stop it after."""
    port = free_port()
    args = ["serve", "--data", str(data), "--host", "127.0.0.1", "--port", str(port)]
    if open_access:
        args.append("--open")
    log_path = data.parent / f"server-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            cli(*args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log_path)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"server did not become ready:\n{log.read_text()}")


def catalogue() -> list[dict[str, Any]]:
    """Items i0..i29: even ones in category "even", odd ones in "odd"."""
    return [
        {
            "item_id": f"i{k}",
            "title": f"Item {k}",
            "text": f"a {'blue' if k % 2 == 0 else 'red'} thing number {k}",
            "categories": ["even" if k % 2 == 0 else "odd"],
        }
        for k in range(N_ITEMS)
    ]


def history() -> list[dict[str, Any]]:
    """Clicks with ids: user ``even<k>`` clicks even items, ``odd<k>`` odd ones; i0 and i2
    are clicked together by every even user (strong co-visitation)."""
    events: list[dict[str, Any]] = []
    for k in range(N_USERS):
        parity = "even" if k % 2 == 0 else "odd"
        start = 0 if parity == "even" else 1
        for j, item in enumerate(range(start, N_ITEMS, 2)):
            if (j + k) % 3 == 0 or item in (0, 2):
                events.append(
                    {
                        "user_id": f"{parity}{k}",
                        "item_id": f"i{item}",
                        "type": "click",
                        "event_id": f"seed-{k}-{item}",
                    }
                )
    return events


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``freshrec serve --open`` process holding the catalogue and the seed history."""
    data = tmp_path_factory.mktemp("open") / "data"
    with running_server(data, open_access=True) as url:
        with httpx.Client(base_url=url) as http:
            assert http.post("/v1/items", json=catalogue()).status_code == 200
            assert http.post("/v1/events", json=history()).status_code == 202
        yield url
