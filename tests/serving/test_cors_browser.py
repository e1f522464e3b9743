"""A shop's page on another origin sends events to ``freshrec serve --cors-origin`` in Chromium.

Two tiny page servers stand for two web sites: the same product page, whose script sends
three events with an ``ingest`` key through ``fetch`` (JSON, ``Authorization: Bearer``),
is served from an origin the freshrec server allows and from one it does not. The server is
a real ``freshrec serve`` process. The test checks: from the allowed origin the browser sends
the call and the page reads the 202; from the other, the browser refuses it (the script sees
a network error, the console a CORS refusal) and no event arrives; the engine holds exactly
the allowed page's events (``/metrics``, then the data directory). Screenshots go to the
test's tmp folder, and to ``docs/img/cors-allowed.png`` and ``docs/img/cors-refused.png``
with ``FRESHREC_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from freshrec import Engine
from freshrec.cli import app as cli_app
from freshrec.serving.cli_serve import register

from .browser import NEEDS_CHROMIUM, DevTools, chromium, free_port, keep_screenshot

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]

# As tests/serving/test_serve_command.py starts it (register is idempotent).
LAUNCH = (
    "from freshrec.cli import app; from freshrec.serving.cli_serve import register; "
    "register(app); app(prog_name='freshrec')"
)
ITEMS = [
    {"item_id": "kettle", "title": "Kettle, 1.7 l"},
    {"item_id": "teapot", "title": "Teapot"},
    {"item_id": "mug", "title": "Mug"},
]
PAGE = """<!doctype html><html lang=en><head><meta charset=utf-8>
<link rel=icon href='data:,'><title>Kettle · a shop</title><style>
body{font:15px/1.5 'DejaVu Sans',sans-serif;margin:0;background:#fbfaf7;color:#222}
header{background:#2d5d4b;color:#fff;padding:.7em 1.5em}main{padding:1em 1.5em;max-width:52em}
code{background:#eee;padding:0 .3em;border-radius:3px}header code{background:#3f7563}
td,th{padding:.15em .8em;text-align:left}
#result{padding:.6em 1em;border-radius:6px;border:1px solid #ccc}
#result[data-status="202"]{background:#e6f4ea;border-color:#8fcf9f}
#result[data-status="refused"]{background:#fde8e8;border-color:#f5b5b5}
</style></head><body><header><b>A shop</b> · <code>__ORIGIN__</code></header><main>
<h1>Kettle, 1.7 l</h1>
<p>This product page is served from <code>__ORIGIN__</code>. Its script reports what the
visitor did to freshrec at <code>__API__</code> with an <b>ingest</b> key:</p>
<table><tr><th>user_id</th><th>item_id</th><th>type</th></tr>__ROWS__</table>
<p id=result>sending…</p></main>
<script>
const API = __API_JSON__, KEY = __KEY_JSON__, EVENTS = __EVENTS_JSON__;
const out = document.getElementById("result");
function show(status, text) { out.dataset.status = status; out.textContent = text; }
fetch(API + "/v1/events", {
  method: "POST",
  headers: {"Content-Type": "application/json", "Authorization": "Bearer " + KEY},
  body: JSON.stringify(EVENTS),
}).then(async (response) => {
  const body = await response.json();
  out.dataset.body = JSON.stringify(body);
  show(String(response.status), "freshrec answered " + response.status + ": " +
       body.accepted + " accepted, " + body.duplicates + " duplicates");
}, (error) => show("refused", "The browser refused the call (" + error + "): " +
                   "this origin is not allowed by the freshrec server."));
</script></body></html>"""


def page_for(origin: str, api: str, key: str, user_id: str) -> bytes:
    """The shop's product page as served from ``origin``; the visitor is ``user_id``."""
    events = [
        {"user_id": user_id, "item_id": item, "type": kind}
        for item, kind in (("kettle", "view"), ("teapot", "click"), ("mug", "cart"))
    ]
    rows = "".join(
        f"<tr><td>{e['user_id']}</td><td>{e['item_id']}</td><td>{e['type']}</td></tr>"
        for e in events
    )
    filled = {
        "__API_JSON__": json.dumps(api),
        "__KEY_JSON__": json.dumps(key),
        "__EVENTS_JSON__": json.dumps(events),
        "__ORIGIN__": origin,
        "__API__": api,
        "__ROWS__": rows,
    }
    return re.sub("|".join(filled), lambda m: filled[m.group(0)], PAGE).encode()


@contextlib.contextmanager
def web_site() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A web site on a free port serving the pages put in the dict it yields, by path."""
    pages: dict[str, bytes] = {}

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body or b"not here")

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", pages
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def page_site() -> Iterator[tuple[str, dict[str, bytes]]]:
    """The shop's site, whose origin the freshrec server allows."""
    with web_site() as site:
        yield site


@pytest.fixture
def other_site() -> Iterator[tuple[str, dict[str, bytes]]]:
    """Another site (another port: another origin), not allowed."""
    with web_site() as site:
        yield site


def create_key(data: Path, scope: str) -> str:
    register(cli_app)
    result = CliRunner().invoke(cli_app, ["keys", "create", "--data", str(data), "--scope", scope])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@pytest.fixture
def freshrec_serve(
    tmp_path: Path, page_site: tuple[str, dict[str, bytes]]
) -> Iterator[tuple[str, Path, dict[str, str], subprocess.Popen[str]]]:
    """``freshrec serve --cors-origin <page_site>``; yields (url, data, keys, process)."""
    data = tmp_path / "data"
    keys = {scope: create_key(data, scope) for scope in ("admin", "read", "ingest")}
    listener = free_port()
    port = listener.getsockname()[1]
    listener.close()
    origin = page_site[0]
    arguments = ["serve", "--data", str(data), "--port", str(port), "--cors-origin", origin]
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                if httpx.get(f"{url}/health/ready", timeout=1, trust_env=False).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "freshrec serve did not become ready"
            time.sleep(0.1)
        yield url, data, keys, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def visit(browser: DevTools, url: str) -> tuple[str, dict[str, str], list[str]]:
    """Open ``url`` in a new tab; return (its session, the result's data, errors logged)."""
    page = browser.open_page(width=900, height=520)
    seen = len(browser.events)
    browser.call("Page.navigate", page, url=url)
    result = browser.wait_until(
        page,
        "document.getElementById('result') && document.getElementById('result').dataset.status"
        " && JSON.stringify({status: document.getElementById('result').dataset.status,"
        " body: document.getElementById('result').dataset.body || '',"
        " text: document.getElementById('result').textContent})",
    )
    # The console's line about a refusal may trail the script's result: give it a moment,
    # then one more round trip moves whatever arrived into ``browser.events``.
    time.sleep(0.3)
    browser.evaluate(page, "1")
    logged = [
        e["params"]["entry"]["text"] if "entry" in e["params"] else json.dumps(e["params"])
        for e in browser.errors()
        if e in browser.events[seen:]
    ]
    return page, json.loads(result), logged


def test_a_page_from_an_allowed_origin_sends_events_and_another_is_refused(
    freshrec_serve: tuple[str, Path, dict[str, str], subprocess.Popen[str]],
    page_site: tuple[str, dict[str, bytes]],
    other_site: tuple[str, dict[str, bytes]],
    tmp_path: Path,
) -> None:
    api, data, keys, process = freshrec_serve
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    with httpx.Client(base_url=api, headers=admin, trust_env=False, timeout=10) as client:
        assert client.post("/v1/items", json=ITEMS).status_code == 200
    allowed_origin, allowed_pages = page_site
    other_origin, other_pages = other_site
    allowed_pages["/kettle"] = page_for(allowed_origin, api, keys["ingest"], "visitor-allowed")
    other_pages["/kettle"] = page_for(other_origin, api, keys["ingest"], "visitor-other")

    with chromium(tmp_path) as browser:
        page, allowed, allowed_errors = visit(browser, f"{allowed_origin}/kettle")
        shot_allowed = browser.screenshot(page, tmp_path / "cors-allowed.png")
        page, refused, refused_errors = visit(browser, f"{other_origin}/kettle")
        shot_refused = browser.screenshot(page, tmp_path / "cors-refused.png")
        requested = browser.requested()

    assert allowed["status"] == "202", allowed
    answer = json.loads(allowed["body"])
    assert (answer["accepted"], answer["duplicates"], answer["errors"]) == (3, 0, [])
    assert allowed_errors == []
    assert refused["status"] == "refused", refused
    assert "TypeError" in refused["text"] and refused["body"] == ""
    assert any("CORS policy" in text and other_origin in text for text in refused_errors), (
        refused_errors
    )
    # Both pages' scripts made the call; the browser refused to complete the second.
    assert requested.count(f"{api}/v1/events") >= 2

    read = {"Authorization": f"Bearer {keys['read']}"}
    metrics = httpx.get(f"{api}/metrics", headers=read, trust_env=False).text
    assert re.search(r"^freshrec_engine_events 3(\.0)?$", metrics, re.MULTILINE), metrics
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    with Engine.open(data) as engine:
        assert engine.history("visitor-allowed") == ["kettle", "teapot", "mug"]
        assert engine.history("visitor-other") == []
        assert engine.stats()["events"] == 3
    for picture in (shot_allowed, shot_refused):
        assert picture.stat().st_size < 300_000
        keep_screenshot(picture, picture.name)
