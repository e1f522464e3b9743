"""HTTP serving benchmark: recommend latency at a paced rate, ingest throughput, event-to-effect.

Builds a synthetic shop (default 100k items, 100k users), imports it with ``freshrec import``,
starts ``freshrec serve`` as a subprocess on loopback and drives it with wrk (a paced closed
loop from a Lua script: C connections take send slots ``1 / rate`` apart on the monotonic
clock, so the achieved rate is the target rate whenever the server keeps up). The peer
measured in the same run is ``GET /health/live`` at the same rate on the same server: the
floor of the framework and the loop, so ``recommend / live`` is the cost of answering.

    .venv/bin/python bench/http_load.py --items 100000 --users 100000 --events 1000000

Needs ``wrk`` on PATH (Debian package ``wrk``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from freshrec.simulate import ShopConfig, write_shop

HERE = Path(__file__).resolve().parent
FRESHREC = [sys.executable, "-m", "freshrec.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_wrk(url: str, script: Path, seconds: int, connections: int, env: dict[str, str]) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    ).stdout
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    lat = {
        p: float(v) * units[u]
        for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)$", out, re.M)
    }
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": lat.get("50"),
        "p90_ms": lat.get("90"),
        "p99_ms": lat.get("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def wait_ready(base: str, timeout: float = 600) -> None:
    """Wait until the server at ``base`` answers ``/health/ready`` with 200."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    sys.exit(f"the server was not ready within {timeout:.0f} s")


def wait_for_training(base: str, timeout: float = 300) -> float:
    """Wait until no retrain runs and no new item waits for its vector; return the seconds.

    (The ``freshrec_training`` and ``freshrec_new_items_waiting`` gauges are both 0.)
    """
    start = time.time()
    while time.time() < start + timeout:
        page = httpx.get(f"{base}/metrics", timeout=10).text
        training = re.search(r"^freshrec_training 0", page, re.M)
        waiting = re.search(r"^freshrec_new_items_waiting 0", page, re.M)
        if training and waiting:
            return time.time() - start
        time.sleep(0.5)
    sys.exit(f"the server did not settle within {timeout:.0f} s")


class LeanClient:
    """Keep-alive HTTP/1.1 over ``http.client``: the least a Python caller can add per request.

    httpx adds ~0.3 ms of Python per request and its own allocation (and GC) churn; this
    client is the floor a Python application backend would see, so both are reported.
    """

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)

    def post_json(self, path: str, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.conn.request("POST", path, payload, {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        response.read()
        if response.status >= 300:
            raise RuntimeError(f"POST {path}: {response.status}")

    def get_json(self, path: str) -> Any:
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        return json.loads(response.read())

    def close(self) -> None:
        self.conn.close()


class HttpxClient:
    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=10)

    def post_json(self, path: str, body: dict[str, Any]) -> None:
        self.client.post(path, json=body).raise_for_status()

    def get_json(self, path: str) -> Any:
        return self.client.get(path).json()

    def close(self) -> None:
        self.client.close()


def event_to_effect(client: LeanClient | HttpxClient, trials: int, tag: str) -> dict[str, float]:
    """Time from a POST /v1/events response to a GET whose answer reflects the event."""
    delays = []
    try:
        for k in range(trials):
            user = f"fresh-user-{tag}-{k}"
            item = f"i{k % 1000}"
            client.post_json("/v1/events", {"user_id": user, "item_id": item, "type": "purchase"})
            posted = time.perf_counter()
            answer = client.get_json(f"/v1/recommendations/{user}?n=10")
            delays.append((time.perf_counter() - posted) * 1e3)
            # The purchased item is now seen: it must not be recommended back.
            assert item not in [r["item_id"] for r in answer["items"]], "event not reflected"
    finally:
        client.close()
    delays.sort()
    return {
        "p50_ms": statistics.median(delays),
        "p99_ms": delays[int(0.99 * (len(delays) - 1))],
    }


def event_to_effect_both(base: str, trials: int, tag: str) -> dict[str, dict[str, float]]:
    """Event-to-effect through the stdlib client and through httpx, one after the other."""
    return {
        "http.client": event_to_effect(LeanClient(base), trials, f"{tag}-lean"),
        "httpx": event_to_effect(HttpxClient(base), trials, f"{tag}-httpx"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--rate", type=int, default=500, help="requests per second")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--data", type=Path, help="serve a copy of this imported shop instead")
    parser.add_argument("--keep", type=Path, help="keep a copy of the imported shop here")
    parser.add_argument(
        "--settings",
        default="{}",
        help='engine settings (JSON), e.g. \'{"blend": {"content": 0.2}}\'',
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="freshrec-http-"))
    data = work / "data"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    report: dict[str, Any] = {}
    if args.data is not None:
        # A shop imported before (e.g. by an earlier run with --keep): the import takes
        # minutes at 100k items; the server writes into a copy, never into the original.
        shutil.copytree(args.data, data)
    else:
        shop = write_shop(
            work / "shop",
            ShopConfig(n_users=args.users, n_items=args.items, n_events=args.events, seed=0),
        )
        start = time.perf_counter()
        subprocess.run(
            [*FRESHREC, "import", "--data", str(data), "--events", str(shop.events),
             "--items", str(shop.items), "--users", str(shop.users), "--batch", "5000"],
            check=True, env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        report["import_seconds"] = time.perf_counter() - start
        if args.keep is not None:
            shutil.copytree(data, args.keep)
    settings = work / "settings.json"
    settings.write_text(args.settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*FRESHREC, "serve", "--data", str(data), "--host", "127.0.0.1", "--port", str(port),
         "--open", "--config", str(settings)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(base)
        # One wrk thread (run_wrk passes -t1): the scripts' schedule is per thread.
        wrk_env = {"FRESHREC_USERS": str(args.users), "FRESHREC_RATE": str(args.rate)}
        report["recommend"] = run_wrk(
            base, HERE / "http" / "recommend.lua", args.seconds, args.connections, wrk_env
        )
        report["live_peer"] = run_wrk(
            base, HERE / "http" / "live.lua", args.seconds // 2, args.connections, wrk_env
        )
        report["ingest"] = run_wrk(base, HERE / "http" / "ingest.lua", 20, 4, wrk_env)
        report["ingest"]["events_per_second"] = report["ingest"]["rps"] * 500
        # Right after the burst a retrain of the grown log runs beside the answers; then the
        # same measurement once it has been swapped in.
        report["event_to_effect"] = event_to_effect_both(base, 1000, "during")
        report["settle_seconds"] = wait_for_training(base)
        report["event_to_effect_settled"] = event_to_effect_both(base, 1000, "settled")
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
