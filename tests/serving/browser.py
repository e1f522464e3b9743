"""A headless Chromium for the browser tests, driven over the DevTools protocol on a pipe.

Chromium (Debian's ``chromium``; ``make test`` installs it where it can) is started with
``--remote-debugging-pipe``, so no driver package is needed. Besides the driver: a uvicorn
server on a free port in a thread, helpers that read what the browser did (requests, console
errors), and the screenshot convention: a test writes its picture to its tmp folder, and
``FRESHREC_UPDATE_SCREENSHOTS=1`` copies it to ``docs/img/``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (make test installs Debian's chromium as root)",
)


class DevTools:
    """A Chromium over the DevTools protocol on a pipe: JSON messages ended by NUL bytes."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4: a tiny exec wrapper puts
        # the pipes there (no preexec_fn: the server's threads are already running).
        wrapper = "import os,sys;os.dup2(int(sys.argv[1]),3);os.dup2(int(sys.argv[2]),4);"
        wrapper += "os.execv(sys.argv[3],sys.argv[3:])"
        flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        flags += ["--no-first-run", "--remote-debugging-pipe", f"--user-data-dir={profile}"]
        flags.append("about:blank")
        self.process = subprocess.Popen(
            [sys.executable, "-c", wrapper, str(to_browser), str(from_browser), binary, *flags],
            pass_fds=(to_browser, from_browser),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self.events: list[dict[str, Any]] = []
        self._inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._replies, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._inbox.put(json.loads(message))

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events meanwhile go to ``events``."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._inbox.get(timeout=30)
            if reply.get("id") == self._next_id:
                assert "error" not in reply, reply
                result: dict[str, Any] = reply["result"]
                return result
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        """Return the next event called ``method`` (events before it go to ``events``)."""
        deadline = time.monotonic() + timeout
        while True:
            event = self._inbox.get(timeout=max(deadline - time.monotonic(), 0.01))
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        # Already gone or not answering: the process is stopped below all the same.
        with contextlib.suppress(Exception):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)

    # -- conveniences for one page ------------------------------------------------------

    def open_page(self, width: int = 1280, height: int = 900) -> str:
        """Open a blank tab with the domains the tests read enabled; return its session id."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        page: str = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", page)
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.call("Emulation.setDeviceMetricsOverride", page, **metrics)
        return page

    def evaluate(self, page: str, expression: str) -> Any:
        """Return the value of a JavaScript expression in the page (awaiting a promise)."""
        reply = self.call(
            "Runtime.evaluate", page, expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in reply, reply
        return reply["result"].get("value")

    def wait_until(self, page: str, expression: str, timeout: float = 30.0) -> Any:
        """Return the expression's value once it is truthy, polling while the page loads.

        Raises:
            AssertionError: still falsy after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            # Mid-navigation the page's context is being replaced: try again.
            with contextlib.suppress(AssertionError):
                value = self.evaluate(page, expression)
                if value:
                    return value
            assert time.monotonic() < deadline, f"never true: {expression}"
            time.sleep(0.1)

    def screenshot(self, page: str, path: Path, scale: float = 1.0) -> Path:
        """Write the viewport as a PNG at ``scale`` to ``path``; return ``path``."""
        size = self.call("Page.getLayoutMetrics", page)["cssVisualViewport"]
        clip = {"x": 0, "y": 0, "width": size["clientWidth"], "height": size["clientHeight"]}
        shot = self.call(
            "Page.captureScreenshot", page, format="png", clip={**clip, "scale": scale}
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def requested(self) -> list[str]:
        """The URLs of every request the browser sent so far (redirects and preflights too)."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def errors(self) -> list[dict[str, Any]]:
        """Uncaught exceptions, ``console.error`` calls and browser log errors so far."""
        return [
            e
            for e in self.events
            if e.get("method") == "Runtime.exceptionThrown"
            or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
            or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
        ]


@contextlib.contextmanager
def chromium(tmp_path: Path) -> Iterator[DevTools]:
    """A fresh Chromium with its own profile under ``tmp_path``, closed on the way out."""
    assert CHROMIUM is not None
    browser = DevTools(CHROMIUM, tmp_path / "profile")
    try:
        yield browser
    finally:
        browser.close()


def free_port() -> socket.socket:
    """A socket bound to a free loopback port, for uvicorn to listen on (no race for it)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    return listener


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on a free port; yield its base URL."""
    listener = free_port()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the server did not start"
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def keep_screenshot(picture: Path, name: str) -> None:
    """Copy a test's screenshot to ``docs/img/NAME`` when FRESHREC_UPDATE_SCREENSHOTS=1."""
    if os.environ.get("FRESHREC_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(picture, DOCS_IMG / name)
