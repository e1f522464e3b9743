"""A real ``freshrec serve`` process on a free port, with keys made before it starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from freshrec.engine import DB_FILE
from freshrec.serving.auth import KeyStore, Scope
from freshrec.store import SqliteStore

LAUNCH = "from freshrec.cli import app; app(prog_name='freshrec')"


@dataclass(frozen=True)
class RealServer:
    """A running server: its URL, its data directory and a key of each scope."""

    url: str
    data: Path
    keys: dict[Scope, str]
    process: subprocess.Popen[str]

    def client(self, scope: Scope = Scope.ADMIN) -> httpx.Client:
        """An HTTP client that sends a key of ``scope``."""
        headers = {"Authorization": f"Bearer {self.keys[scope]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def real_server(data: Path, *args: str, timeout: float = 60.0) -> Iterator[RealServer]:
    """Start ``freshrec serve --data DATA ARGS`` with one key per scope; SIGKILL it after."""
    data.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(data / DB_FILE)
    try:
        keystore = KeyStore(store)
        keys = {scope: keystore.create(scope) for scope in Scope}
    finally:
        store.close()
    port = free_port()
    command = [sys.executable, "-c", LAUNCH, "serve", "--data", str(data), "--port", str(port)]
    process = subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    server = RealServer(f"http://127.0.0.1:{port}", data, keys, process)
    try:
        _wait_ready(server, timeout)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def _wait_ready(server: RealServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            output = server.process.stdout.read() if server.process.stdout else ""
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{output}")
        try:
            if httpx.get(f"{server.url}/health/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")
